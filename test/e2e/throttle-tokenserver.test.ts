/**
 * Login throttling at the built-in token server (default limits; a 1-minute first delay): GET with Basic credentials and the OAuth2 POST
 * (grant_type=password) count toward the same limits as the API, answer 429 TOOMANYREQUESTS with Retry-After past
 * them, and never stop another address; an anonymous token request with empty Basic credentials is never a failure.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startWharf, testConfig, type Wharf } from './harness.js';
import { basic, call, htpasswd } from './throttle.js';

const USERS = { alice: 'alice-Pa55', bob: 'bob-Pa55', carol: 'carol-Pa55' };
const SERVICE = 'wharf';

describe('login throttling at the built-in token server', () => {
  let w: Wharf;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-throttle-token-'));
    writeFileSync(join(dir, 'users'), htpasswd(USERS));
    try {
      w = await startWharf({
        dir,
        config: testConfig({
          logLevel: 'info',
          extra: `auth:
  token: { realm: "http://127.0.0.1:{{port}}/auth/token", service: ${SERVICE}, issuer: throttle, rootcertbundle: {{dir}}/token.crt }
tokenserver: { issuer: throttle, service: ${SERVICE}, htpasswd: {{dir}}/users, key: {{dir}}/keys/token.key, certificate: {{dir}}/token.crt }
bruteforce: { backoff: { initial: 1m, max: 1h } }
`,
        }),
      });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  });
  after(async () => {
    await w?.cleanup();
  });

  const get = (user: string, pw: string, from: string) =>
    call(w.url, `/auth/token?service=${SERVICE}&scope=repository:x/y:pull`, { headers: basic(user, pw), from });
  const post = (user: string, pw: string, from: string) =>
    call(w.url, '/auth/token', {
      method: 'POST',
      from,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: user,
        password: pw,
        service: SERVICE,
        client_id: 'e2e',
      }).toString(),
    });

  test('GET and POST count together; past the limit both answer 429 with Retry-After, even for the right password', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await get('alice', `get-${i}`, '127.0.0.30')).status, 401);
    for (let i = 0; i < 5; i++) assert.equal((await post('alice', `post-${i}`, '127.0.0.30')).status, 401);
    for (const r of [await get('alice', USERS.alice, '127.0.0.30'), await post('alice', USERS.alice, '127.0.0.30')]) {
      assert.equal(r.status, 429);
      assert.ok(r.retryAfter > 50 && r.retryAfter <= 60, `Retry-After ${r.retryAfter}`);
      assert.deepEqual(JSON.parse(r.body), {
        errors: [
          { code: 'TOOMANYREQUESTS', message: `too many failed login attempts; retry after ${r.retryAfter} seconds` },
        ],
      });
    }
    assert.equal((await get('alice', USERS.alice, '127.0.0.31')).status, 200, 'the owner from another address');
    assert.equal((await post('alice', USERS.alice, '127.0.0.31')).status, 200);
  });

  test('empty Basic credentials get an anonymous token and count for nothing; an empty POST user name is refused uncounted', async () => {
    const empty = { Authorization: `Basic ${Buffer.from(':').toString('base64')}` };
    for (let i = 0; i < 30; i++) {
      const r = await call(w.url, `/auth/token?service=${SERVICE}&scope=repository:x/y:pull`, {
        headers: empty,
        from: '127.0.0.32',
      });
      assert.equal(r.status, 200);
      assert.equal(
        JSON.parse(Buffer.from((JSON.parse(r.body) as { token: string }).token.split('.')[1], 'base64url').toString())
          .sub,
        '',
        'anonymous',
      );
      assert.equal((await post('', '', '127.0.0.32')).status, 401);
    }
    for (let i = 0; i < 9; i++) assert.equal((await get('bob', `w${i}`, '127.0.0.32')).status, 401);
    assert.equal((await get('bob', USERS.bob, '127.0.0.32')).status, 200, 'only the 9 real failures counted');
  });
});
