/**
 * Fail closed: a typo in a security section never loads as a configuration without that protection. Every
 * mistyped, mis-cased or doubled auth method, every misspelt key of auth, http.tls, access and tokenserver is
 * refused (or, where the meant key is set anyway, warned) with a message naming the key path and the key it
 * looks like; required keys say what they hold; the realms clients cannot use are warned about.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { authFileProblems } from './files.js';
import { ConfigError, parseConfig } from './load.js';
import { nearestKey } from './suggest.js';

const BASE = 'version: 0.1\nstorage: inmemory\n';
const parse = (yaml: string) => parseConfig(BASE + yaml, 'test.yml', {});

function problems(yaml: string): string[] {
  try {
    parse(yaml);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail(`expected the configuration to be refused:\n${yaml}`);
}

const htpasswdUnder = (method: string) => `auth:\n  ${method}:\n    realm: basic-realm\n    path: /auth/htpasswd\n`;

test('a misspelt auth method is refused, naming it, the methods and the nearest one', () => {
  for (const [typo, meant] of [
    ['htpassword', 'htpasswd'],
    ['htpasswrd', 'htpasswd'],
    ['htpaswd', 'htpasswd'],
    ['tokn', 'token'],
    ['toekn', 'token'],
    ['sily', 'silly'],
  ]) {
    const p = problems(htpasswdUnder(typo));
    assert.deepEqual(
      p,
      [
        `auth.${typo}: unknown auth method "${typo}", did you mean ${meant}? (the methods: htpasswd, token, silly, none)`,
      ],
      typo,
    );
  }
  assert.deepEqual(problems(htpasswdUnder('ldap')), [
    'auth.ldap: unknown auth method "ldap" (the methods: htpasswd, token, silly, none)',
  ]);
});

test('a mis-cased auth method is refused with the lower-case name', () => {
  for (const [cased, meant] of [
    ['Htpasswd', 'htpasswd'],
    ['HTPASSWD', 'htpasswd'],
    ['Token', 'token'],
    ['Silly', 'silly'],
  ]) {
    assert.match(
      problems(htpasswdUnder(cased)).join('\n'),
      new RegExp(`^auth\\.${cased}: unknown auth method "${cased}", did you mean ${meant}\\?`),
      cased,
    );
  }
});

test('two auth methods are refused, naming both', () => {
  const p = problems(`${htpasswdUnder('htpasswd')}  silly:\n    realm: http://localhost/token\n    service: s\n`);
  assert.deepEqual(p, ['auth: exactly one auth method may be configured, found htpasswd, silly']);
  assert.deepEqual(problems('auth:\n  none:\n  silly:\n    realm: http://localhost/token\n'), [
    'auth: exactly one auth method may be configured, found none, silly',
  ]);
});

test('a misspelt key of a method: an error when the key it meant is unset, a warning naming it otherwise', () => {
  assert.deepEqual(problems('auth:\n  htpasswd:\n    relm: basic-realm\n    path: /auth/htpasswd\n').sort(), [
    'auth.htpasswd.realm: required (the realm name clients are told in the Basic challenge, e.g. basic-realm)',
    'auth.htpasswd.relm: unknown key, did you mean realm? (an error, not a warning: the security setting auth.htpasswd.realm would be left unset)',
  ]);
  assert.deepEqual(problems('auth:\n  htpasswd:\n    realm: basic-realm\n    pth: /auth/htpasswd\n').sort(), [
    'auth.htpasswd.path: required (the htpasswd file; create it with `wharf htpasswd -Bc <file> <user>`)',
    'auth.htpasswd.pth: unknown key, did you mean path? (an error, not a warning: the security setting auth.htpasswd.path would be left unset)',
  ]);
  const { warnings } = parse(
    'auth:\n  htpasswd:\n    realm: basic-realm\n    relm: other\n    path: /auth/htpasswd\n    colour: blue\n',
  );
  assert.deepEqual(warnings.sort(), [
    'auth.htpasswd.colour: unknown key, ignored',
    'auth.htpasswd.relm: unknown key, did you mean realm? (ignored)',
  ]);

  const token =
    'auth:\n  token:\n    realm: https://auth.example.com/token\n    service: registry\n    issuer: auth\n    rootcertbundle: /b.pem\n';
  for (const [key, typo] of [
    ['signingalgorithms', 'signingalgorithm'],
    ['jwks', 'jwk'],
    ['autoredirect', 'autoredirct'],
  ]) {
    assert.deepEqual(
      problems(`${token}    ${typo}: x\n`),
      [
        `auth.token.${typo}: unknown key, did you mean ${key}? (an error, not a warning: the security setting auth.token.${key} would be left unset)`,
      ],
      typo,
    );
  }
  assert.match(
    problems(
      'auth:\n  token:\n    realm: https://a/t\n    servce: registry\n    issuer: auth\n    rootcertbundle: /b.pem\n',
    ).join('\n'),
    /auth\.token\.servce: unknown key, did you mean service\?/,
  );
  assert.match(
    problems('auth:\n  silly:\n    Realm: http://localhost/token\n').join('\n'),
    /auth\.silly\.Realm: unknown key, did you mean realm\?/,
  );
});

test("the tutorial's token snippet without service says what service is", () => {
  const p = problems(
    'auth:\n  token:\n    realm: token-realm\n    issuer: registry-token-issuer\n    rootcertbundle: /root/certs/bundle\n',
  );
  assert.deepEqual(p, ['auth.token.service: required (the audience your token server puts in "aud")']);
  assert.deepEqual(problems('auth:\n  token:\n    realm: https://a/t\n    service: s\n    issuer: i\n'), [
    'auth.token: needs rootcertbundle or jwks (the certificates or keys your token server signs with)',
  ]);
  assert.deepEqual(problems('auth:\n  token:\n').sort(), [
    'auth.token.issuer: required (the "iss" your token server puts in its tokens)',
    'auth.token.realm: required (the absolute URL of your token server, e.g. https://auth.example.com/token)',
    'auth.token.service: required (the audience your token server puts in "aud")',
  ]);
});

test('a wrong indent under auth is refused, never read as no auth', () => {
  // `realm` and `path` one level too high: htpasswd is empty, and they are not methods.
  const p = problems('auth:\n  htpasswd:\n  realm: basic-realm\n  path: /auth/htpasswd\n');
  assert.ok(
    p.includes(
      'auth.path: not an auth method but a key of auth.htpasswd: indent it under the method (the methods: htpasswd, token, silly, none)',
    ),
    p.join('\n'),
  );
  assert.ok(
    p.some((x) => x.startsWith('auth.realm: not an auth method but a key of auth.htpasswd, auth.token, auth.silly')),
    p.join('\n'),
  );
  assert.ok(
    p.some((x) => x.startsWith('auth.htpasswd.path: required')),
    p.join('\n'),
  );
  // The method one level too high: `auth:` is empty and htpasswd a top-level key.
  assert.deepEqual(problems('auth:\nhtpasswd:\n  realm: basic-realm\n  path: /auth/htpasswd\n'), [
    'htpasswd: unknown key, did you mean auth.htpasswd? (htpasswd belongs under auth:, indent it there)',
  ]);
  assert.deepEqual(problems('http:\n  addr: :5000\ntls:\n  certificate: /c\n  key: /k\n'), [
    'tls: unknown key, did you mean http.tls? (tls belongs under http:, indent it there)',
  ]);
  assert.deepEqual(problems('auth: 5\n'), [
    'auth: must be a mapping holding one auth method (htpasswd, token, silly, none), got 5',
  ]);
  assert.deepEqual(problems('auth:\n  htpasswd:\n    realm: {a: 1}\n    path: /x\n'), [
    'auth.htpasswd.realm: must be a string or a number or true or false, got a mapping',
  ]);
});

test('the other security sections: misspelt keys are errors naming the key they look like', () => {
  const cases: Array<[string, string]> = [
    [
      'auht:\n  htpasswd:\n    realm: r\n    path: /p\n',
      'auht: unknown key, did you mean auth? (an error, not a warning: the security setting auth would be left unset)',
    ],
    [
      'http:\n  tsl:\n    certificate: /c\n    key: /k\n',
      'http.tsl: unknown key, did you mean tls? (an error, not a warning: the security setting http.tls would be left unset)',
    ],
    [
      'http:\n  tls:\n    certificate: /c\n    key: /k\n    clientca: [/ca.pem]\n',
      'http.tls.clientca: unknown key, did you mean clientcas? (an error, not a warning: the security setting http.tls.clientcas would be left unset)',
    ],
    [
      'http:\n  tls:\n    certificate: /c\n    key: /k\n    client_auth: require-and-verify-client-cert\n',
      'http.tls.client_auth: unknown key, did you mean clientauth? (an error, not a warning: the security setting http.tls.clientauth would be left unset)',
    ],
    [
      'access:\n  rule:\n    - accounts: [alice]\n',
      'access.rule: unknown key, did you mean rules? (an error, not a warning: the security setting access.rules would be left unset)',
    ],
    [
      'access:\n  rules:\n    - accounts: [alice]\n      repos: ["**"]\n      actions: [pull]\n',
      'access.rules.0.repos: unknown key, did you mean repositories? (an error, not a warning: the security setting access.rules.0.repositories would be left unset)',
    ],
    [
      'access:\n  rules:\n    - accounts: [alice]\n      repositories: ["**"]\n      action: [pull]\n',
      'access.rules.0.action: unknown key, did you mean actions? (an error, not a warning: the security setting access.rules.0.actions would be left unset)',
    ],
  ];
  for (const [yaml, want] of cases) assert.deepEqual(problems(yaml), [want], yaml);
  assert.ok(
    problems('http:\n  tls:\n    certficate: /c\n    key: /k\n').includes(
      'http.tls.certficate: unknown key, did you mean certificate? (an error, not a warning: the security setting http.tls.certificate would be left unset)',
    ),
  );
  assert.ok(
    problems('tokenserver:\n  enabeld: true\n').some((p) =>
      p.startsWith('tokenserver.enabeld: unknown key, did you mean enabled? (an error'),
    ),
  );
  assert.deepEqual(problems('http:\n  tls:\n'), ['http.tls: is empty: give it its keys, or remove it']);
  // Outside the security sections a typo stays a warning.
  assert.deepEqual(parse('http:\n  adr: :6000\n').warnings, ['http.adr: unknown key, did you mean addr? (ignored)']);
});

test('realms clients cannot use are warned about; an empty auth section too', () => {
  const silly = parse('auth:\n  silly:\n    realm: silly-realm\n    service: silly-service\n');
  assert.deepEqual(silly.warnings, [
    'auth.silly.realm: "silly-realm" is not an absolute http(s) URL; docker, podman and skopeo will fail with "unsupported protocol scheme" when they fetch a token (write e.g. https://registry.example.com/auth/token)',
  ]);
  const token = parse(
    'auth:\n  token:\n    realm: /auth/token\n    service: s\n    issuer: i\n    rootcertbundle: /b.pem\n',
  );
  assert.match(token.warnings.join('\n'), /^auth\.token\.realm: "\/auth\/token" is not an absolute http\(s\) URL/);
  for (const realm of ['http://localhost:5000/auth/token', 'https://auth.example.com/token']) {
    assert.deepEqual(parse(`auth:\n  silly:\n    realm: ${realm}\n    service: s\n`).warnings, [], realm);
  }
  assert.deepEqual(
    parse(
      'auth:\n  token:\n    realm: ignored\n    autoredirect: true\n    service: s\n    issuer: i\n    rootcertbundle: /b.pem\n',
    ).warnings,
    [],
    'autoredirect makes the realm from the request',
  );
  assert.match(parse('auth:\n').warnings.join('\n'), /^auth: empty: no authentication/);
  assert.match(parse('auth: {}\n').warnings.join('\n'), /^auth: empty: no authentication/);
});

test("Debian's shipped config.yml: valid, but its htpasswd path is a directory, named with the key", () => {
  const fixture = fileURLToPath(new URL('../../../test/fixtures/debian-docker-registry-config.yml', import.meta.url));
  const shipped = readFileSync(fixture, 'utf8');
  assert.match(shipped, /path: \/etc\/docker\/registry\n/, 'the fixture is the file the docker-registry package ships');
  const dir = mkdtempSync(join(tmpdir(), 'wharf-debian-'));
  try {
    // The same file with its directory moved into the test's temp dir (CI may not have /etc/docker/registry).
    const registryDir = join(dir, 'etc-docker-registry');
    mkdirSync(registryDir);
    writeFileSync(join(registryDir, 'config.yml'), shipped);
    const { config, warnings } = parseConfig(
      shipped.replace('/etc/docker/registry\n', `${registryDir}\n`),
      fixture,
      {},
    );
    assert.deepEqual(warnings, []);
    assert.deepEqual(authFileProblems(config), {
      problems: [`auth.htpasswd.path: ${registryDir} is a directory, not an htpasswd file`],
      warnings: [],
    });
    const missing = parseConfig(
      shipped.replace('/etc/docker/registry\n', `${join(dir, 'htpasswd')}\n`),
      fixture,
      {},
    ).config;
    assert.match(
      authFileProblems(missing).warnings.join('\n'),
      /^auth\.htpasswd\.path: \S+htpasswd does not exist; wharf serve creates it/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nearestKey: case, underscores, transpositions and abbreviations; nothing for unrelated keys', () => {
  const keys = ['realm', 'path', 'service', 'rootcertbundle', 'tls', 'repositories'];
  assert.equal(nearestKey('Realm', keys), 'realm');
  assert.equal(nearestKey('root_cert_bundle', keys), 'rootcertbundle');
  assert.equal(nearestKey('tsl', keys), 'tls');
  assert.equal(nearestKey('repos', keys), 'repositories');
  assert.equal(nearestKey('colour', keys), undefined);
  assert.equal(nearestKey('ca', keys), undefined);
});
