/**
 * The token server's grant: what a caller gets of the scopes it asks for, under access rules and without them;
 * scope parsing; and one issuance end to end in process (htpasswd user -> GET /token -> a JWT that auth.token
 * accepts with exactly the granted access, refresh tokens refused as bearer tokens).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { decodeJwt } from 'jose';
import { HtpasswdAccess } from '../auth/htpasswd.js';
import { bruteForceGuard } from '../auth/index.js';
import { AccessPolicy } from '../auth/policy.js';
import { TokenAccess } from '../auth/token.js';
import { parseConfig } from '../config/load.js';
import { send } from '../http/fixture.test.js';
import { createLogger } from '../log.js';
import { loadOrCreateSigningKey, type SigningKey } from './keys.js';
import { parseScope, TokenServer, type ResourceActions } from './server.js';

const ISSUER = 'grant-issuer';
const SERVICE = 'grant.test';
const log = createLogger({
  level: 'error',
  formatter: 'json',
  destination: new Writable({ write: (_c, _e, done) => done() }),
});

const scopes = (...s: string[]): ResourceActions[] => s.map((x) => parseScope(x)!);

test('parseScope: type, name (which may contain colons) and actions', () => {
  assert.deepEqual(parseScope('repository:foo/bar:pull,push'), {
    type: 'repository',
    name: 'foo/bar',
    actions: ['pull', 'push'],
  });
  assert.deepEqual(parseScope('repository:localhost:5000/foo:pull'), {
    type: 'repository',
    name: 'localhost:5000/foo',
    actions: ['pull'],
  });
  assert.deepEqual(parseScope('repository(plugin):x:pull'), { type: 'repository', name: 'x', actions: ['pull'] });
  assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
  assert.deepEqual(parseScope('repository:a:pull,,push,'), {
    type: 'repository',
    name: 'a',
    actions: ['pull', 'push'],
  });
  for (const bad of ['repository:foo', 'repository::pull', ':foo:pull', 'repository:foo:', ''])
    assert.equal(parseScope(bad), null, bad);
});

describe('grant', () => {
  let dir: string;
  let key: SigningKey;
  const server = (policy?: AccessPolicy) =>
    new TokenServer({
      issuer: ISSUER,
      service: SERVICE,
      expirationMs: 300_000,
      refreshExpirationMs: 3_600_000,
      key,
      users: { verify: async () => ({ ok: true }), exists: async () => true },
      policy,
      log,
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-grant-'));
    key = await loadOrCreateSigningKey(join(dir, 'key.pem'), join(dir, 'cert.pem'), log);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('without access rules: an authenticated user gets everything asked, anonymous nothing', () => {
    const asked = scopes('repository:a/b:pull,push,delete', 'registry:catalog:*', 'repository:c:*');
    assert.deepEqual(server().grant('alice', asked), asked);
    assert.deepEqual(server().grant(null, asked), []);
  });

  test('with rules: each action is checked; resources left with no action are dropped', () => {
    const policy = new AccessPolicy({
      groups: { admins: ['root'] },
      rules: [
        { accounts: ['group:admins'], repositories: ['**'], actions: ['*'], catalog: true },
        { accounts: ['*'], repositories: ['${account}/**'], actions: ['pull', 'push'] },
        { accounts: ['*'], repositories: ['shared/*'], actions: ['pull'] },
        { accounts: ['anonymous'], repositories: ['public/*'], actions: ['pull'] },
      ],
    });
    const s = server(policy);
    assert.deepEqual(
      s.grant(
        'alice',
        scopes(
          'repository:alice/app:pull,push,delete',
          'repository:shared/lib:pull,push',
          'repository:bob/app:pull',
          'registry:catalog:*',
        ),
      ),
      scopes('repository:alice/app:pull,push', 'repository:shared/lib:pull'),
    );
    assert.deepEqual(
      s.grant(null, scopes('repository:public/x:pull,push', 'repository:shared/lib:pull')),
      scopes('repository:public/x:pull'),
    );
    assert.deepEqual(
      s.grant('root', scopes('registry:catalog:*', 'repository:any/thing:pull,push,delete')),
      scopes('registry:catalog:*', 'repository:any/thing:pull,push,delete'),
    );
  });

  test('* on a repository is granted only to who may pull, push and delete; overwrite only when named', () => {
    const policy = new AccessPolicy({
      groups: {},
      rules: [
        { accounts: ['owner'], repositories: ['r'], actions: ['*'] },
        { accounts: ['writer'], repositories: ['r'], actions: ['pull', 'push'] },
        { accounts: ['releaser'], repositories: ['r'], actions: ['*', 'overwrite'] },
      ],
    });
    const s = server(policy);
    assert.deepEqual(s.grant('owner', scopes('repository:r:*')), scopes('repository:r:*'));
    assert.deepEqual(s.grant('writer', scopes('repository:r:*')), []);
    assert.deepEqual(s.grant('writer', scopes('repository:r:pull,push,*')), scopes('repository:r:pull,push'));
    assert.deepEqual(s.grant('owner', scopes('repository:r:overwrite')), []);
    assert.deepEqual(s.grant('releaser', scopes('repository:r:overwrite')), scopes('repository:r:overwrite'));
  });

  test('unknown resource types and registry resources other than the catalog are never granted under rules', () => {
    const s = server(
      new AccessPolicy({
        groups: {},
        rules: [{ accounts: ['*'], repositories: ['**'], actions: ['*'], catalog: true }],
      }),
    );
    assert.deepEqual(
      s.grant('alice', scopes('plugin:x:pull', 'registry:other:*', 'registry:catalog:*')),
      scopes('registry:catalog:*'),
    );
  });
});

describe('issuance end to end', () => {
  let dir: string;
  let http: Server;
  let base: string;
  let verifier: TokenAccess;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-issue-'));
    const key = await loadOrCreateSigningKey(join(dir, 'key.pem'), join(dir, 'cert.pem'), log);
    writeFileSync(join(dir, 'htpasswd'), `alice:${bcrypt.hashSync('secret', 4)}\n`);
    const guard = bruteForceGuard(
      parseConfig('version: 0.1\nstorage: inmemory\nbruteforce: { enabled: false }\n', 'test').config,
    );
    const users = new HtpasswdAccess({ realm: SERVICE, path: join(dir, 'htpasswd'), log, guard });
    await users.init();
    const policy = new AccessPolicy({
      groups: {},
      rules: [
        { accounts: ['*'], repositories: ['${account}/**'], actions: ['*'] },
        { accounts: ['anonymous'], repositories: ['public/*'], actions: ['pull'] },
      ],
    });
    const ts = new TokenServer({
      issuer: ISSUER,
      service: SERVICE,
      expirationMs: 300_000,
      refreshExpirationMs: 3_600_000,
      key,
      users,
      policy,
      log,
    });
    http = createServer((req, res) => void ts.handle(req, res));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    verifier = await TokenAccess.create({
      realm: `${base}/token`,
      service: SERVICE,
      issuer: ISSUER,
      rootcertbundle: join(dir, 'cert.pem'),
      autoredirect: false,
      autoredirectpath: '/token',
      log,
    });
  });
  after(async () => {
    await new Promise((r) => http.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const basic = `Basic ${Buffer.from('alice:secret').toString('base64')}`;

  test('a user gets a token the registry accepts, carrying exactly the granted access', async () => {
    const q = `service=${SERVICE}&scope=${encodeURIComponent('repository:alice/app:pull,push')}&scope=${encodeURIComponent('repository:bob/app:pull')}`;
    const r = await send(base, 'GET', `/token?${q}`, { headers: { Authorization: basic } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['cache-control'], 'no-store');
    const body = r.json();
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 300);
    const v = await verifier.verify(body.token);
    assert.equal(v.sub, 'alice');
    assert.deepEqual(v.access, scopes('repository:alice/app:pull,push'));
    assert.equal(decodeJwt(body.token).aud, SERVICE);
  });

  test('anonymous gets what the anonymous rules allow, with an empty sub', async () => {
    const r = await send(base, 'GET', `/token?scope=${encodeURIComponent('repository:public/x:pull,push')}`);
    const v = await verifier.verify(r.json().token);
    assert.equal(v.sub, '');
    assert.deepEqual(v.access, scopes('repository:public/x:pull'));
  });

  test('a wrong password is 401 with a Basic challenge; another service 400', async () => {
    const wrong = await send(base, 'GET', '/token', {
      headers: { Authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` },
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers['www-authenticate'], `Basic realm="${SERVICE}"`);
    const other = await send(base, 'GET', '/token?service=elsewhere', { headers: { Authorization: basic } });
    assert.equal(other.status, 400);
    assert.equal(other.json().error, 'invalid_request');
  });

  test('OAuth2 password and refresh grants; a refresh token is never a registry bearer token', async () => {
    const form = `grant_type=password&username=alice&password=secret&service=${SERVICE}&access_type=offline&scope=${encodeURIComponent('repository:alice/x:pull')}`;
    const pw = await send(base, 'POST', '/token', {
      body: form,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(pw.status, 200, pw.text);
    assert.equal(pw.json().scope, 'repository:alice/x:pull');
    const refresh = pw.json().refresh_token as string;
    await assert.rejects(verifier.verify(refresh), /another audience/);
    const again = await send(base, 'POST', '/token', {
      body: `grant_type=refresh_token&refresh_token=${refresh}&scope=${encodeURIComponent('repository:alice/y:push')}`,
    });
    assert.equal(again.status, 200, again.text);
    assert.deepEqual((await verifier.verify(again.json().access_token)).access, scopes('repository:alice/y:push'));
    const bad = await send(base, 'POST', '/token', { body: 'grant_type=refresh_token&refresh_token=forged' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error, 'invalid_grant');
  });
});
