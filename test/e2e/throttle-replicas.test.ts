/**
 * Two replicas sharing one redis-server (and http.secret) see the same throttling counts: failures on either
 * count on both, a wrong password re-sent through the other replica is recognised (the password hashes are keyed
 * by a secret derived from http.secret), and the owner from another address is never stopped.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startWharf, testConfig, type Wharf } from './harness.js';
import { REDIS_MISSING, REDIS_SERVER, startRedis, type RedisServer } from './redisserver.js';
import { htpasswd, login, REALM } from './throttle.js';

const USERS = { alice: 'alice-Pa55', bob: 'bob-Pa55' };

describe('login throttling across two replicas sharing Redis', { skip: REDIS_SERVER ? false : REDIS_MISSING }, () => {
  let redis: RedisServer;
  let work: string;
  let a: Wharf;
  let b: Wharf;

  before(async () => {
    redis = await startRedis();
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-throttle-replicas-'));
    writeFileSync(join(work, 'users'), htpasswd(USERS));
    const config = testConfig({
      logLevel: 'info',
      extra: `auth:\n  htpasswd:\n    realm: ${REALM}\n    path: ${join(work, 'users')}\nredis:\n  addrs: [${redis.addr}]\nbruteforce:\n  backoff:\n    initial: 1m\n`,
    });
    [a, b] = await Promise.all([startWharf({ config }), startWharf({ config })]);
    for (const w of [a, b]) {
      for (let i = 0; !/redis: connected/.test(w.output()); i++) {
        if (i > 200) throw new Error(`redis not connected:\n${w.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  after(async () => {
    await a?.cleanup();
    await b?.cleanup();
    await redis?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('failures on A and B add up; the same wrong password through both counts once; both then throttle', async () => {
    assert.equal((await login(a, 'alice', 'stale', '127.0.0.40')).status, 401);
    assert.equal((await login(b, 'alice', 'stale', '127.0.0.40')).status, 401);
    // 1 (stale, counted once across replicas) + 4 on A + 5 on B = 10.
    for (let i = 0; i < 4; i++) assert.equal((await login(a, 'alice', `a${i}`, '127.0.0.40')).status, 401);
    for (let i = 0; i < 4; i++) assert.equal((await login(b, 'alice', `b${i}`, '127.0.0.40')).status, 401);
    assert.equal((await login(a, 'alice', USERS.alice, '127.0.0.40')).status, 200, '9 failures: not yet');
    // The success forgave the pair: 10 fresh failures, alternating.
    for (let i = 0; i < 10; i++) assert.equal((await login(i % 2 ? a : b, 'alice', `c${i}`, '127.0.0.40')).status, 401);
    for (const w of [a, b]) {
      const r = await login(w, 'alice', USERS.alice, '127.0.0.40');
      assert.deepEqual([r.status, r.retryAfter > 50 && r.retryAfter <= 60], [429, true]);
    }
    for (const w of [a, b])
      assert.equal(
        (await login(w, 'alice', USERS.alice, '127.0.0.41')).status,
        200,
        'another address is never stopped',
      );
    const starts = [a, b].flatMap((w) =>
      w
        .output()
        .split('\n')
        .filter((l) => l.includes('reached its limit of failed logins from this address')),
    );
    assert.equal(starts.length, 1, 'one replica logs the start, once');
  });

  test('the address limit (30) is shared too', async () => {
    for (let i = 0; i < 30; i++) assert.equal((await login(i % 2 ? a : b, `spray${i}`, 'x', '127.0.0.42')).status, 401);
    for (const w of [a, b]) assert.equal((await login(w, 'bob', USERS.bob, '127.0.0.42')).status, 429);
    assert.equal((await login(b, 'bob', USERS.bob, '127.0.0.43')).status, 200);
  });
});
