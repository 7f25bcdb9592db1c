/**
 * wharf's built-in token server (`tokenserver:`) with `auth.token` and the access rules, end to end:
 * - the example table of accounts x repositories x actions through the Bearer flow (token from /auth/token with
 *   Basic credentials and the scope, then the API): allowed -> 2xx; anonymous -> 401 insufficient_scope;
 *   authenticated but not allowed -> 403 DENIED;
 * - the `access` claim is the intersection of the requested scopes (several `scope` parameters, space-separated
 *   scopes) and the rules; anonymous tokens carry `sub: ""` and only what anonymous may do;
 * - a wrong password is 401 and counts toward login throttling (429 + Retry-After at the token endpoint);
 * - OAuth2 POST: grant_type=password (+ access_type=offline -> refresh_token) and grant_type=refresh_token; a
 *   refresh token is never a registry bearer token; a removed user's refresh token is refused (invalid_grant);
 * - expires_in/issued_at and tokenserver.expiration; the generated key (0600) and certificate (0644) are reused
 *   by a restart, and tokens issued before it still verify;
 * - real clients: skopeo login/copy, podman login/push/pull (vfs storage in a temp dir), the Docker CLI login
 *   (client side, no daemon) storing the refresh token as its identity token, then `docker manifest inspect`;
 * - `wharf token-server`: the token server alone on `tokenserver.addr`, serving a registry on another port.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ACCOUNTS,
  ACTIONS,
  ALLOWED,
  accessesOf,
  act,
  basic,
  errorBody,
  EXAMPLE_RULES,
  REPOS,
  seed,
  USERS,
  writeUsers,
  type Account,
  type Action,
  type AuthFor,
} from './access.js';
import { freePort, MAIN, startWharf, testConfig, type Wharf } from './harness.js';
import { LayoutReader, OciLayout, type BuiltImage } from './ocilayout.js';
import { copy, onPath, run, SKOPEO, SKOPEO_MISSING, skopeo } from './skopeo.js';

const SERVICE = 'wharf';
const ISSUER = 'wharf-issuer';
const DOCKER = onPath('docker');
const PODMAN = onPath('podman');

/** wharf with auth.token trusting its own token server (at `realm`, default its own /auth/token). */
function config(extra = '', realm = 'http://127.0.0.1:{{port}}/auth/token'): string {
  return testConfig({
    logLevel: 'info',
    extra: `auth:
  token: { realm: "${realm}", service: ${SERVICE}, issuer: ${ISSUER}, rootcertbundle: {{dir}}/token.crt }
tokenserver: { issuer: ${ISSUER}, service: ${SERVICE}, htpasswd: {{dir}}/users, key: {{dir}}/keys/token.key, certificate: {{dir}}/token.crt, expiration: 2m }
${EXAMPLE_RULES}${extra}`,
  });
}

async function startWith(extra: string, users: Record<string, string> = USERS): Promise<Wharf> {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-tokensrv-'));
  writeUsers(join(dir, 'users'), users);
  try {
    return await startWharf({ dir, config: config(extra) });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

interface TokenAnswer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

/** GET /auth/token with the given query (service added) and optional Basic credentials. */
async function getToken(
  url: string,
  scopes: string[],
  creds?: [string, string],
  extra: Record<string, string> = {},
): Promise<TokenAnswer> {
  const q = new URLSearchParams({ service: SERVICE, ...extra });
  for (const s of scopes) q.append('scope', s);
  const r = await fetch(`${url}/auth/token?${q}`, { headers: creds ? basic(...creds) : {} });
  return { status: r.status, headers: r.headers, json: (await r.json()) as Record<string, unknown> };
}

async function postToken(url: string, form: Record<string, string>): Promise<TokenAnswer> {
  const r = await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: r.status, headers: r.headers, json: (await r.json()) as Record<string, unknown> };
}

function claims(token: unknown): Record<string, unknown> {
  assert.equal(typeof token, 'string');
  return JSON.parse(Buffer.from((token as string).split('.')[1], 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

function header(token: unknown): Record<string, unknown> {
  return JSON.parse(Buffer.from((token as string).split('.')[0], 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** The Bearer flow for `account`: a fresh token for exactly the scope the request needs. */
const bearerOf =
  (url: string, account: Account): AuthFor =>
  async (repo: string, actions: Action[]) => {
    const t = await getToken(
      url,
      [`repository:${repo}:${actions.join(',')}`],
      account === 'anonymous' ? undefined : [account, USERS[account]],
    );
    assert.equal(t.status, 200, JSON.stringify(t.json));
    return { Authorization: `Bearer ${t.json.token as string}` };
  };

async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('built-in token server with auth.token and access rules', () => {
  let w: Wharf;
  let realm: string;
  const deletable: Record<string, string> = {};

  before(async () => {
    w = await startWith('bruteforce:\n  maxfailures: 10000\n', { ...USERS, dave: 'dave-Pa55-acc' });
    realm = `${w.url}/auth/token`;
    for (const repo of REPOS) {
      await seed(w.url, repo, 'v1', `v1-${repo}`, bearerOf(w.url, 'carol'));
      deletable[repo] = await seed(w.url, repo, 'del', `del-${repo}`, bearerOf(w.url, 'carol'));
    }
  });

  after(async () => {
    await w?.cleanup();
  });

  test('the signing key and certificate were generated at first start: key 0600 in a 0700 directory, certificate 0644', () => {
    assert.equal(statSync(join(w.dir, 'keys', 'token.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(w.dir, 'keys')).mode & 0o777, 0o700);
    assert.equal(statSync(join(w.dir, 'token.crt')).mode & 0o777, 0o644);
    assert.match(readFileSync(join(w.dir, 'token.crt'), 'utf8'), /^-----BEGIN CERTIFICATE-----\n/);
    assert.match(readFileSync(join(w.dir, 'keys', 'token.key'), 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(w.output(), /tokenserver: generated a new signing key/);
  });

  for (const account of ACCOUNTS) {
    test(`${account}: every repository x action through the Bearer flow, as the table says`, async () => {
      for (const repo of REPOS) {
        for (const action of ACTIONS) {
          const answers = await act(w.url, repo, action, bearerOf(w.url, account), account, deletable[repo]);
          const where = `${account} ${action} ${repo}`;
          if (ALLOWED[account][repo].includes(action)) {
            for (const a of answers) assert.ok(a.status >= 200 && a.status < 300, `${where}: ${a.status} ${a.body}`);
          } else if (account === 'anonymous') {
            const scope = `repository:${repo}:${accessesOf(action).join(',')}`;
            for (const a of answers) {
              assert.deepEqual(
                a,
                {
                  status: 401,
                  challenge: `Bearer realm="${realm}",service="${SERVICE}",scope="${scope}",error="insufficient_scope"`,
                  body: errorBody('UNAUTHORIZED', repo, accessesOf(action)),
                },
                where,
              );
            }
          } else {
            for (const a of answers)
              assert.deepEqual(
                a,
                { status: 403, challenge: null, body: errorBody('DENIED', repo, accessesOf(action)) },
                where,
              );
          }
        }
      }
    });
  }

  test('without a token: the Bearer challenge with the scope and no error', async () => {
    const r = await fetch(`${w.url}/v2/alice/app/tags/list`);
    assert.equal(r.status, 401);
    assert.equal(
      r.headers.get('www-authenticate'),
      `Bearer realm="${realm}",service="${SERVICE}",scope="repository:alice/app:pull"`,
    );
    assert.equal(await r.text(), errorBody('UNAUTHORIZED', 'alice/app', ['pull']));
  });

  test('the access claim is the intersection of what was asked and what the rules allow', async () => {
    const cases: Array<{ who?: [string, string]; scope: string; access: unknown[] }> = [
      {
        who: ['alice', USERS.alice],
        scope: 'repository:bob/app:pull,push,delete',
        access: [{ type: 'repository', name: 'bob/app', actions: ['pull'] }],
      },
      {
        who: ['alice', USERS.alice],
        scope: 'repository:alice/app:push,pull,delete',
        access: [{ type: 'repository', name: 'alice/app', actions: ['push', 'pull'] }],
      },
      // `*` means every action: alice may not delete in her own namespace, so she gets nothing for it.
      { who: ['alice', USERS.alice], scope: 'repository:alice/app:*', access: [] },
      {
        who: ['carol', USERS.carol],
        scope: 'repository:bob/app:*',
        access: [{ type: 'repository', name: 'bob/app', actions: ['*'] }],
      },
      {
        who: ['bob', USERS.bob],
        scope: 'registry:catalog:*',
        access: [{ type: 'registry', name: 'catalog', actions: ['*'] }],
      },
      { scope: 'registry:catalog:*', access: [] },
      {
        scope: 'repository:public/base:pull,push',
        access: [{ type: 'repository', name: 'public/base', actions: ['pull'] }],
      },
      { scope: 'repository:team/x:pull', access: [] },
    ];
    for (const c of cases) {
      const t = await getToken(w.url, [c.scope], c.who);
      assert.equal(t.status, 200);
      const cl = claims(t.json.token);
      assert.deepEqual(cl.access, c.access, `${c.who?.[0] ?? 'anonymous'} ${c.scope}`);
      assert.equal(cl.sub, c.who?.[0] ?? '');
      assert.equal(cl.iss, ISSUER);
      assert.equal(cl.aud, SERVICE);
      assert.equal(t.json.access_token, t.json.token);
    }
  });

  test('several scope parameters, and several scopes in one parameter, are all answered', async () => {
    const t = await getToken(
      w.url,
      ['repository:alice/app:pull,push', 'repository:bob/app:pull,push registry:catalog:*', 'repository:team/x:delete'],
      ['alice', USERS.alice],
    );
    assert.equal(t.status, 200);
    assert.deepEqual(claims(t.json.token).access, [
      { type: 'repository', name: 'alice/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'bob/app', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    // The one token serves all three.
    const h = { Authorization: `Bearer ${t.json.token as string}` };
    for (const path of ['/v2/alice/app/tags/list', '/v2/bob/app/tags/list', '/v2/_catalog']) {
      const r = await fetch(w.url + path, { headers: h });
      await r.arrayBuffer();
      assert.equal(r.status, 200, path);
    }
  });

  test('the catalog through a token lists what the user may pull; anonymous gets no catalog scope', async () => {
    const t = await getToken(w.url, ['registry:catalog:*'], ['bob', USERS.bob]);
    const r = await fetch(`${w.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${t.json.token as string}` } });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { repositories: [...REPOS] });
    const anon = await getToken(w.url, ['registry:catalog:*']);
    const a = await fetch(`${w.url}/v2/_catalog`, {
      headers: { Authorization: `Bearer ${anon.json.token as string}` },
    });
    assert.equal(a.status, 401);
    assert.match(a.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
    await a.arrayBuffer();
  });

  test('an anonymous token (no credentials) pulls public/**', async () => {
    const t = await getToken(w.url, ['repository:public/base:pull']);
    assert.equal(t.status, 200);
    assert.equal(t.json.refresh_token, undefined);
    const r = await fetch(`${w.url}/v2/public/base/tags/list`, {
      headers: { Authorization: `Bearer ${t.json.token as string}` },
    });
    assert.equal(r.status, 200);
    assert.deepEqual(((await r.json()) as { tags: string[] }).tags.sort(), ['by-carol', 'v1']);
  });

  test('a wrong password or an unknown user is 401 with a Basic challenge; an unknown service is 400', async () => {
    for (const creds of [
      ['alice', 'wrong'],
      ['mallory', USERS.alice],
    ] as Array<[string, string]>) {
      const t = await getToken(w.url, ['repository:alice/app:pull'], creds);
      assert.equal(t.status, 401, creds[0]);
      assert.equal(t.headers.get('www-authenticate'), `Basic realm="${SERVICE}"`);
      assert.deepEqual(t.json, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
    }
    const other = await getToken(w.url, [], ['alice', USERS.alice], { service: 'elsewhere' });
    assert.equal(other.status, 400);
    assert.equal(other.json.error, 'invalid_request');
  });

  test('expires_in, issued_at and exp follow tokenserver.expiration (2m)', async () => {
    const before = Date.now();
    const t = await getToken(w.url, ['repository:alice/app:pull'], ['alice', USERS.alice]);
    assert.equal(t.json.expires_in, 120);
    const issued = Date.parse(t.json.issued_at as string);
    assert.ok(issued >= before - 1000 && issued <= Date.now() + 1000, String(t.json.issued_at));
    const cl = claims(t.json.token);
    assert.equal((cl.exp as number) - (cl.iat as number), 120);
    assert.equal(cl.iat, Math.floor(issued / 1000));
    assert.equal(t.headers.get('cache-control'), 'no-store');
    const h = header(t.json.token);
    assert.equal(h.alg, 'ES256');
    assert.ok(Array.isArray(h.x5c) && h.x5c.length === 1);
    assert.match(h.kid as string, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
  });

  test('OAuth2 POST: password grant with access_type=offline returns a refresh token; refresh_token grant returns a new access token', async () => {
    const first = await postToken(w.url, {
      grant_type: 'password',
      username: 'alice',
      password: USERS.alice,
      service: SERVICE,
      client_id: 'e2e',
      access_type: 'offline',
      scope: 'repository:alice/app:pull,push',
    });
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.equal(typeof first.json.refresh_token, 'string');
    assert.equal(first.json.expires_in, 120);
    assert.equal(first.json.scope, 'repository:alice/app:pull,push');
    assert.deepEqual(claims(first.json.access_token).access, [
      { type: 'repository', name: 'alice/app', actions: ['pull', 'push'] },
    ]);

    const online = await postToken(w.url, {
      grant_type: 'password',
      username: 'alice',
      password: USERS.alice,
      service: SERVICE,
      client_id: 'e2e',
      scope: 'repository:alice/app:pull',
    });
    assert.equal(online.status, 200);
    assert.equal(online.json.refresh_token, undefined);

    const next = await postToken(w.url, {
      grant_type: 'refresh_token',
      refresh_token: first.json.refresh_token as string,
      service: SERVICE,
      client_id: 'e2e',
      scope: 'repository:alice/app:pull repository:bob/app:push',
    });
    assert.equal(next.status, 200, JSON.stringify(next.json));
    assert.equal(claims(next.json.access_token).sub, 'alice');
    assert.deepEqual(claims(next.json.access_token).access, [
      { type: 'repository', name: 'alice/app', actions: ['pull'] },
    ]);
    const r = await fetch(`${w.url}/v2/alice/app/tags/list`, {
      headers: { Authorization: `Bearer ${next.json.access_token as string}` },
    });
    assert.equal(r.status, 200);
    await r.arrayBuffer();

    const bad = await postToken(w.url, {
      grant_type: 'password',
      username: 'alice',
      password: 'wrong',
      service: SERVICE,
      client_id: 'e2e',
    });
    assert.equal(bad.status, 401);
    const forged = await postToken(w.url, {
      grant_type: 'refresh_token',
      refresh_token: next.json.access_token as string,
      service: SERVICE,
      client_id: 'e2e',
    });
    assert.deepEqual(
      [forged.status, forged.json.error],
      [400, 'invalid_grant'],
      'an access token is not a refresh token',
    );
    const unknown = await postToken(w.url, { grant_type: 'client_credentials', service: SERVICE });
    assert.deepEqual([unknown.status, unknown.json.error], [400, 'unsupported_grant_type']);
  });

  test('a refresh token is refused as a registry bearer token (401 invalid_token)', async () => {
    const t = await getToken(w.url, ['repository:alice/app:pull'], ['alice', USERS.alice], { offline_token: 'true' });
    assert.equal(typeof t.json.refresh_token, 'string');
    const r = await fetch(`${w.url}/v2/alice/app/tags/list`, {
      headers: { Authorization: `Bearer ${t.json.refresh_token as string}` },
    });
    assert.equal(r.status, 401);
    assert.equal(
      r.headers.get('www-authenticate'),
      `Bearer realm="${realm}",service="${SERVICE}",scope="repository:alice/app:pull",error="invalid_token"`,
    );
    await r.arrayBuffer();
    // Its own access token works.
    const ok = await fetch(`${w.url}/v2/alice/app/tags/list`, {
      headers: { Authorization: `Bearer ${t.json.token as string}` },
    });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
  });

  test("a removed user's refresh token is refused (400 invalid_grant) once the htpasswd file changes", async () => {
    const t = await postToken(w.url, {
      grant_type: 'password',
      username: 'dave',
      password: 'dave-Pa55-acc',
      service: SERVICE,
      client_id: 'e2e',
      access_type: 'offline',
    });
    assert.equal(t.status, 200);
    const refresh = t.json.refresh_token as string;
    const again = await postToken(w.url, {
      grant_type: 'refresh_token',
      refresh_token: refresh,
      service: SERVICE,
      client_id: 'e2e',
    });
    assert.equal(again.status, 200);
    writeUsers(join(w.dir, 'users'), USERS);
    // No password login happens in between: the refresh itself must notice the changed file.
    const refused = await eventually(
      async () =>
        (
          await postToken(w.url, {
            grant_type: 'refresh_token',
            refresh_token: refresh,
            service: SERVICE,
            client_id: 'e2e',
          })
        ).status === 400,
    );
    assert.ok(refused, 'the refresh token of a removed user still worked 5 s after the file changed');
    const last = await postToken(w.url, {
      grant_type: 'refresh_token',
      refresh_token: refresh,
      service: SERVICE,
      client_id: 'e2e',
    });
    assert.deepEqual(last.json, { error: 'invalid_grant', error_description: 'invalid or expired refresh token' });
  });

  describe('real clients', () => {
    let work: string;
    let layout: OciLayout;
    let img: BuiltImage;
    let reg: string;
    const stores: string[] = [];

    before(() => {
      work = mkdtempSync(join(tmpdir(), 'wharf-e2e-tokensrv-clients-'));
      layout = new OciLayout(join(work, 'layout'));
      img = layout.image('token-clients', { os: 'linux', architecture: 'amd64' }, 1);
      layout.tag('v1', img.manifest);
      reg = `127.0.0.1:${w.port}`;
    });

    after(() => {
      if (work) rmSync(work, { recursive: true, force: true });
      for (const d of stores) rmSync(d, { recursive: true, force: true });
    });

    test(
      'skopeo: login as alice, push to alice/app; bob pulls it; alice cannot push to bob/app',
      { skip: SKOPEO ? false : SKOPEO_MISSING },
      async () => {
        const authfile = (u: string) => join(work, `skopeo-${u}.json`);
        for (const u of ['alice', 'bob'] as const) {
          const r = await skopeo([
            'login',
            '--tls-verify=false',
            '--authfile',
            authfile(u),
            '-u',
            u,
            '-p',
            USERS[u],
            reg,
          ]);
          assert.equal(r.code, 0, r.stderr);
        }
        const wrong = await skopeo([
          'login',
          '--tls-verify=false',
          '--authfile',
          join(work, 'skopeo-wrong.json'),
          '-u',
          'alice',
          '-p',
          'wrong',
          reg,
        ]);
        assert.notEqual(wrong.code, 0);
        assert.match(wrong.stderr, /invalid username\/password|401|unauthorized/i);

        await copy(`oci:${layout.dir}:v1`, `docker://${reg}/alice/app:skopeo`, '--dest-authfile', authfile('alice'));
        const out = join(work, 'pulled-by-bob');
        await copy(`docker://${reg}/alice/app:skopeo`, `oci:${out}:v1`, '--src-authfile', authfile('bob'));
        const pulled = new LayoutReader(out);
        assert.equal(pulled.ref('v1').digest, img.manifest.digest);
        for (const l of img.layers) assert.deepEqual(pulled.blob(l.digest), l.bytes);

        const refused = await skopeo([
          'copy',
          '--dest-tls-verify=false',
          '--dest-authfile',
          authfile('alice'),
          `oci:${layout.dir}:v1`,
          `docker://${reg}/bob/app:skopeo`,
        ]);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /denied|requested access to the resource is denied/);
        const tags = await fetch(`${w.url}/v2/bob/app/tags/list`, {
          headers: await bearerOf(w.url, 'bob')('bob/app', ['pull']),
        });
        assert.ok(!((await tags.json()) as { tags: string[] }).tags.includes('skopeo'));
      },
    );

    test(
      'podman: login, push as alice to alice/app, pull as bob; push to bob/app refused',
      { skip: PODMAN ? false : 'podman is not on PATH (apt-get install podman)' },
      async () => {
        const registriesConf = join(work, 'registries.conf');
        writeFileSync(registriesConf, '');
        const env = {
          ...process.env,
          CONTAINERS_REGISTRIES_CONF: registriesConf,
          REGISTRIES_CONFIG_PATH: registriesConf,
        };
        // podman refuses a runroot longer than 50 characters, and names an image pulled from `oci:<dir>` after the
        // directory (which must then be lower case): stores and layout live in a short, lower-case directory.
        const short = join(tmpdir(), `wp-${randomBytes(4).toString('hex')}`);
        mkdirSync(short, { mode: 0o700 });
        stores.push(short);
        const podLayout = new OciLayout(join(short, 'layout'));
        podLayout.tag('v1', podLayout.image('token-clients', { os: 'linux', architecture: 'amd64' }, 1).manifest);
        const podman = (store: string, args: string[]) =>
          run(
            PODMAN!,
            [
              '--root',
              join(short, store, 'root'),
              '--runroot',
              join(short, store, 'run'),
              '--storage-driver',
              'vfs',
              '--cgroup-manager=cgroupfs',
              '--events-backend=file',
              ...args,
            ],
            300_000,
            env,
          );
        const ok = async (store: string, args: string[]) => {
          const r = await podman(store, args);
          assert.equal(r.code, 0, `podman ${args.join(' ')}:\n${r.stderr}${r.stdout}`);
          return r.stdout;
        };
        const auth = (u: string) => join(work, `podman-${u}.json`);
        await ok('a', [
          'login',
          '--tls-verify=false',
          '--authfile',
          auth('alice'),
          '-u',
          'alice',
          '-p',
          USERS.alice,
          reg,
        ]);
        await ok('b', ['login', '--tls-verify=false', '--authfile', auth('bob'), '-u', 'bob', '-p', USERS.bob, reg]);
        await ok('a', ['pull', `oci:${podLayout.dir}:v1`]);
        const id = (await ok('a', ['images', '--quiet', '--no-trunc'])).trim().split('\n')[0];
        await ok('a', ['push', '--tls-verify=false', '--authfile', auth('alice'), id, `${reg}/alice/app:podman`]);
        await ok('b', ['pull', '--tls-verify=false', '--authfile', auth('bob'), `${reg}/alice/app:podman`]);
        const inspected = JSON.parse(await ok('b', ['image', 'inspect', `${reg}/alice/app:podman`])) as Array<{
          Id: string;
        }>;
        assert.equal(`sha256:${inspected[0].Id}`, id.startsWith('sha256:') ? id : `sha256:${id}`);
        const refused = await podman('a', [
          'push',
          '--tls-verify=false',
          '--authfile',
          auth('alice'),
          id,
          `${reg}/bob/app:podman`,
        ]);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /denied/);
      },
    );

    test(
      'docker CLI: login without a daemon stores the refresh token as identitytoken; manifest inspect uses it',
      { skip: DOCKER ? false : 'docker CLI is not on PATH (apt-get install docker.io brings it)' },
      async () => {
        // DOCKER_HOST names a socket that does not exist: the CLI logs in by itself (no daemon is asked).
        const env = {
          ...process.env,
          DOCKER_CONFIG: join(work, 'docker-config'),
          DOCKER_HOST: `unix://${join(work, 'no-daemon.sock')}`,
          DOCKER_CLI_HINTS: 'false',
        };
        const docker = (args: string[]) => run(DOCKER!, args, 60_000, env);
        const bad = await docker(['login', '-u', 'bob', '--password', 'wrong', reg]);
        assert.notEqual(bad.code, 0);
        const r = await docker(['login', '-u', 'bob', '--password', USERS.bob, reg]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /Login Succeeded/);
        const stored = (
          JSON.parse(readFileSync(join(env.DOCKER_CONFIG, 'config.json'), 'utf8')) as {
            auths: Record<string, { auth?: string; identitytoken?: string }>;
          }
        ).auths[reg];
        // The password is not kept: only the user name and the refresh token, which names bob and is no bearer token.
        assert.equal(Buffer.from(stored.auth ?? '', 'base64').toString(), 'bob:');
        const refresh = claims(stored.identitytoken);
        assert.equal(refresh.sub, 'bob');
        assert.equal(refresh.aud, `${SERVICE}#refresh`);
        // `docker manifest` trades the identity token for an access token (OAuth2 refresh_token grant).
        const inspect = await docker(['manifest', 'inspect', '--insecure', `${reg}/alice/app:v1`]);
        assert.equal(inspect.code, 0, inspect.stderr);
        assert.equal(
          (JSON.parse(inspect.stdout) as { annotations: { seed: string } }).annotations.seed,
          'v1-alice/app',
        );
        assert.match(w.output(), /msg="tokenserver: issued token" user=bob /);
      },
    );
  });
});

describe('built-in token server: login throttling at the token endpoint (more in throttle-tokenserver.test.ts)', () => {
  let w: Wharf;
  before(async () => {
    w = await startWith('bruteforce:\n  maxfailures: 3\n  window: 1m\n  backoff:\n    initial: 90s\n    max: 1h\n');
  });
  after(async () => {
    await w?.cleanup();
  });

  test('three wrong passwords, then 429 with Retry-After even for the right one (GET and POST)', async () => {
    assert.equal((await getToken(w.url, [], ['alice', USERS.alice])).status, 200);
    for (let i = 0; i < 3; i++)
      assert.equal(
        (await getToken(w.url, ['repository:alice/app:pull'], ['alice', `wrong-${i}`])).status,
        401,
        `attempt ${i + 1}`,
      );
    const blocked = await getToken(w.url, ['repository:alice/app:pull'], ['alice', USERS.alice]);
    assert.equal(blocked.status, 429);
    const retry = Number(blocked.headers.get('retry-after'));
    assert.ok(retry > 80 && retry <= 90, `Retry-After ${retry}`);
    assert.deepEqual(blocked.json, {
      errors: [{ code: 'TOOMANYREQUESTS', message: `too many failed login attempts; retry after ${retry} seconds` }],
    });
    const post = await postToken(w.url, {
      grant_type: 'password',
      username: 'alice',
      password: USERS.alice,
      service: SERVICE,
      client_id: 'e2e',
    });
    assert.equal(post.status, 429);
    assert.ok(Number(post.headers.get('retry-after')) > 0);
    assert.equal(
      (await getToken(w.url, [], ['bob', USERS.bob])).status,
      200,
      'another user from the same address is not throttled',
    );
  });
});

describe('built-in token server: a restart reuses the key', () => {
  let w: Wharf | undefined;
  let dir: string;
  after(async () => {
    await w?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the key and certificate are kept, and a token issued before the restart still verifies', async () => {
    w = await startWith('');
    dir = w.dir;
    await seed(w.url, 'alice/app', 'v1', 'restart', bearerOf(w.url, 'alice'));
    const key = readFileSync(join(dir, 'keys', 'token.key'));
    const cert = readFileSync(join(dir, 'token.crt'));
    const t = await getToken(w.url, ['repository:alice/app:pull'], ['alice', USERS.alice]);
    assert.equal(await w.stop(), 0);

    w = await startWharf({ dir, config: config('') });
    assert.deepEqual(readFileSync(join(dir, 'keys', 'token.key')), key);
    assert.deepEqual(readFileSync(join(dir, 'token.crt')), cert);
    assert.doesNotMatch(w.output(), /generated a new signing key/);
    const r = await fetch(`${w.url}/v2/alice/app/tags/list`, {
      headers: { Authorization: `Bearer ${t.json.token as string}` },
    });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { name: 'alice/app', tags: ['v1'] });
  });
});

describe('wharf token-server: the token server alone, for a registry on another port', () => {
  let dir: string;
  let regDir: string;
  let ts: Wharf;
  let reg: Wharf;

  /** The token server's config: it still names storage (the schema requires it) but serves no registry. */
  const tokenConfig = (addr: string) => `version: 0.1
log:
  level: info
storage:
  inmemory: {}
http:
  addr: 127.0.0.1:{{http}}
tokenserver: { addr: "${addr}", issuer: ${ISSUER}, service: ${SERVICE}, htpasswd: {{dir}}/users, key: {{dir}}/token.key, certificate: {{dir}}/token.crt }
${EXAMPLE_RULES}`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-tokensrv-alone-'));
    writeUsers(join(dir, 'users'), USERS);
    const http = await freePort();
    ts = await startWharf({
      dir,
      config: tokenConfig('127.0.0.1:{{port}}').replace('{{http}}', String(http)),
      args: ['token-server', join(dir, 'config.yml')],
      waitReady: false,
    });
    const ready = await eventually(async () => {
      try {
        return (await fetch(`${ts.url}/auth/token?service=${SERVICE}`)).status === 200;
      } catch {
        return false;
      }
    }, 15_000);
    assert.ok(ready, `token server did not start:\n${ts.output()}`);
    // Nothing else is served there: not the registry API.
    const api = await fetch(`http://127.0.0.1:${http}/v2/`).catch((e: Error) => e);
    assert.ok(api instanceof Error, 'the token server must not serve the registry');
    regDir = mkdtempSync(join(tmpdir(), 'wharf-e2e-tokensrv-reg-'));
    reg = await startWharf({
      dir: regDir,
      config: testConfig({
        accessLog: true,
        storage: '',
        extra: `auth:
  token: { realm: "${ts.url}/auth/token", service: ${SERVICE}, issuer: ${ISSUER}, rootcertbundle: ${join(dir, 'token.crt')} }
${EXAMPLE_RULES}`,
      }),
    });
  });

  after(async () => {
    await reg?.cleanup();
    await ts?.stop('SIGKILL');
    // Removed here, not by cleanup(): also when a process failed to start.
    for (const d of [dir, regDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('the registry challenges with the token server as realm; its tokens work there, following the rules', async () => {
    const r = await fetch(`${reg.url}/v2/alice/app/tags/list`);
    await r.arrayBuffer();
    assert.equal(
      r.headers.get('www-authenticate'),
      `Bearer realm="${ts.url}/auth/token",service="${SERVICE}",scope="repository:alice/app:pull"`,
    );
    await seed(reg.url, 'alice/app', 'v1', 'alone', bearerOf(ts.url, 'alice'));
    const pulled = await fetch(`${reg.url}/v2/alice/app/tags/list`, {
      headers: await bearerOf(ts.url, 'bob')('alice/app', ['pull']),
    });
    assert.deepEqual(await pulled.json(), { name: 'alice/app', tags: ['v1'] });
    const denied = await fetch(`${reg.url}/v2/alice/app/blobs/uploads/`, {
      method: 'POST',
      headers: await bearerOf(ts.url, 'bob')('alice/app', ['pull', 'push']),
    });
    assert.equal(denied.status, 403);
    assert.equal(await denied.text(), errorBody('DENIED', 'alice/app', ['pull', 'push']));
  });

  test('skopeo copies through the pair', { skip: SKOPEO ? false : SKOPEO_MISSING }, async () => {
    const layout = new OciLayout(join(dir, 'layout'));
    const img = layout.image('alone', { os: 'linux', architecture: 'amd64' });
    layout.tag('v1', img.manifest);
    await copy(`oci:${layout.dir}:v1`, `docker://127.0.0.1:${reg.port}/bob/app:v1`, '--dest-creds', `bob:${USERS.bob}`);
    const out = join(dir, 'out');
    await copy(`docker://127.0.0.1:${reg.port}/bob/app:v1`, `oci:${out}:v1`, '--src-creds', `carol:${USERS.carol}`);
    assert.equal(new LayoutReader(out).ref('v1').digest, img.manifest.digest);
  });

  test('other paths are 404 there', async () => {
    const r = await fetch(`${ts.url}/v2/`);
    assert.equal(r.status, 404);
    assert.match(await r.text(), /the token endpoint is \/auth\/token/);
  });

  test('without tokenserver.addr it refuses to start, saying so', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'wharf-e2e-tokensrv-noaddr-'));
    try {
      writeFileSync(
        join(bad, 'config.yml'),
        tokenConfig('').replace('addr: "", ', '').replaceAll('{{dir}}', bad).replace('{{http}}', '0'),
      );
      const r = await run(process.execPath, [MAIN, 'token-server', join(bad, 'config.yml')], 30_000);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /tokenserver\.addr is required to run the token server alone/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });

  test('SIGTERM stops it with exit code 0', async () => {
    assert.equal(await ts.stop('SIGTERM'), 0);
  });
});
