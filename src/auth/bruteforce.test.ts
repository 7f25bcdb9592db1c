/** Login throttling: the backoff arithmetic, the in-memory store (shared suite), and the guard with an injected clock. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  backoffMs,
  BruteForceGuard,
  MemoryThrottleStore,
  type ThrottleReason,
  type ThrottleStore,
} from './bruteforce.js';
import { runThrottleStoreSuite, SUITE_POLICY } from './bruteforcesuite.js';

describe('backoffMs', () => {
  const p = { initialDelayMs: 1000, maxDelayMs: 900_000 };
  it('is 0 below the limit, the initial delay at it, doubling after it, capped', () => {
    assert.deepEqual(
      [8, 9, 10, 11, 12, 13].map((n) => backoffMs(n, 10, p)),
      [0, 0, 1000, 2000, 4000, 8000],
    );
    assert.equal(backoffMs(19, 10, p), 512_000);
    assert.equal(backoffMs(20, 10, p), 900_000);
    assert.equal(backoffMs(10_000, 10, p), 900_000, 'no overflow far past the limit');
    assert.equal(backoffMs(5, 0, p), 0, 'a limit of 0 is no limit');
  });
});

runThrottleStoreSuite('memory', { store: () => new MemoryThrottleStore(), now: () => 1_000_000 });

describe('MemoryThrottleStore bounds', () => {
  it('keeps at most maxTracked counters, forgetting the least recently failed first', () => {
    const s = new MemoryThrottleStore(30);
    const p = { ...SUITE_POLICY, userMaxFailures: 0 };
    for (let i = 0; i < 3; i++) s.failNow('1.1.1.1', 'alice', `x${i}`, 0, p);
    // 20 other addresses, 2 counters each (address and pair): the first address's counters are pushed out.
    for (let i = 0; i < 20; i++) s.failNow(`2.2.2.${i}`, 'bob', 'y', 0, p);
    assert.equal(s.check('1.1.1.1', 'alice', 0), null);
    assert.equal(s.check('2.2.2.19', 'bob', 0), null);
    s.failNow('2.2.2.19', 'bob', 'z', 0, p);
    s.failNow('2.2.2.19', 'bob', 'w', 0, p);
    assert.equal(s.check('2.2.2.19', 'bob', 0)?.reason, 'pair', 'recent counters are kept');
  });
});

describe('BruteForceGuard', () => {
  const policy = { ...SUITE_POLICY };

  it('answers in whole seconds, rounded up, on its injected clock; a throttle lifts when its time is up', async () => {
    let now = 5_000_000;
    const g = new BruteForceGuard(policy, { now: () => now });
    for (let i = 0; i < 3; i++) await g.recordFailure('alice', `wrong${i}`, '10.0.0.1');
    assert.equal(g.retryAfter('alice', '10.0.0.1'), 1);
    now += 400;
    assert.equal(g.retryAfter('alice', '10.0.0.1'), 1, '600 ms left: 1 second');
    now += 600;
    assert.equal(g.retryAfter('alice', '10.0.0.1'), 0);
    await g.recordFailure('alice', 'wrong3', '10.0.0.1');
    assert.equal(g.retryAfter('alice', '10.0.0.1'), 2);
    assert.equal(g.retryAfter('alice', '10.0.0.2'), 0, 'never from an address that has not failed');
  });

  it('hashes passwords with its secret: the same password is recognised, a new guard does not know it', async () => {
    const store = new MemoryThrottleStore();
    const seen: string[] = [];
    const spy: ThrottleStore = {
      check: (a, u, t) => store.check(a, u, t),
      fail: (a, u, h, t, p) => (seen.push(h), store.fail(a, u, h, t, p)),
      succeed: (a, u, t) => store.succeed(a, u, t),
    };
    const g = new BruteForceGuard(policy, { store: spy, secret: 'one' });
    assert.equal((await g.recordFailure('bob', 'hunter2', '10.0.0.1')).counted, true);
    assert.equal((await g.recordFailure('bob', 'hunter2', '10.0.0.1')).counted, false);
    await new BruteForceGuard(policy, { store: spy, secret: 'two' }).recordFailure('bob', 'hunter2', '10.0.0.1');
    assert.equal(seen[0], seen[1]);
    assert.notEqual(seen[0], seen[2], 'another secret, another hash');
    for (const h of seen) assert.ok(!h.includes('hunter2') && h.length === 22, h);
    assert.equal(
      (await g.recordFailure('carol', 'hunter2', '10.0.0.1')).counted,
      true,
      'the hash covers the user name: another user, another guess',
    );
  });

  it('counts IPv6 clients by their /64, IPv4-mapped ones as IPv4', async () => {
    const g = new BruteForceGuard(policy);
    for (let i = 0; i < 3; i++) await g.recordFailure('carol', `w${i}`, `2001:db8:1:2::${i + 1}`);
    assert.ok((await g.retryAfter('carol', '2001:db8:1:2:ffff::9')) > 0, 'the same /64');
    assert.equal(await g.retryAfter('carol', '2001:db8:1:3::1'), 0, 'another /64');
  });

  it('tells its hooks each start (once per key) and each refusal, with the limit that imposed it', async () => {
    const started: string[] = [];
    const throttled: ThrottleReason[] = [];
    const g = new BruteForceGuard(policy, {
      hooks: {
        started: (e) => started.push(`${e.reason}:${e.user}@${e.address}`),
        throttled: (r) => throttled.push(r),
      },
    });
    for (let i = 0; i < 4; i++) await g.recordFailure('dave', `w${i}`, '10.0.0.9');
    await g.recordFailure('erin', 'x', '10.0.0.9');
    assert.deepEqual(started, ['pair:dave@10.0.0.9', 'address:erin@10.0.0.9']);
    assert.ok((await g.retryAfter('dave', '10.0.0.9')) > 0);
    assert.ok((await g.retryAfter('frank', '10.0.0.9')) > 0);
    assert.deepEqual(throttled, ['pair', 'address']);
  });

  it('a correct password from an address forgives that pair only', async () => {
    const g = new BruteForceGuard(policy);
    for (let i = 0; i < 2; i++) await g.recordFailure('gina', `w${i}`, '10.0.1.1');
    await g.recordSuccess('gina', '10.0.1.1');
    await g.recordFailure('gina', 'w9', '10.0.1.1');
    assert.equal(g.retryAfter('gina', '10.0.1.1'), 0, 'one failure since the success, below the limit of 3');
  });

  it('a disabled guard never asks its store; with an empty memory store the answer is synchronous', async () => {
    const refuse: ThrottleStore = {
      check: () => assert.fail('used'),
      fail: () => assert.fail('used'),
      succeed: () => assert.fail('used'),
    };
    const off = new BruteForceGuard({ ...policy, enabled: false }, { store: refuse });
    assert.deepEqual(await off.recordFailure('x', 'y', 'z'), { counted: false, started: [] });
    assert.equal(off.retryAfter('x', 'z'), 0);
    await off.recordSuccess('x', 'z');
    assert.equal(typeof new BruteForceGuard(policy).retryAfter('x', '10.0.0.1'), 'number');
  });
});
