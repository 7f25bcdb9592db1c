/**
 * The contract of a ThrottleStore (src/auth/bruteforce.ts), run against every store: in memory
 * (bruteforce.test.ts) and Redis (src/redis/bruteforce.test.ts). Times are passed in, so nothing waits; each
 * test uses its own address and user names, so a shared server needs no cleaning. A store may skip a test with
 * a written reason.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ThrottlePolicy, ThrottleStore } from './bruteforce.js';

export const SUITE_POLICY: ThrottlePolicy = {
  enabled: true,
  windowMs: 60_000,
  pairMaxFailures: 3,
  addressMaxFailures: 5,
  userMaxFailures: 8,
  initialDelayMs: 1000,
  maxDelayMs: 8000,
};

export interface SuiteOptions {
  /** The store under test (may be shared by all tests). */
  store: () => ThrottleStore;
  /** A time base near the clock the store's expiry uses (Redis expires keys on its own clock). */
  now: () => number;
  skip?: Array<{ reason: string; tests: string[] }>;
}

export function runThrottleStoreSuite(name: string, o: SuiteOptions): void {
  const skipped = (title: string) => o.skip?.find((s) => s.tests.includes(title))?.reason;
  const test = (title: string, fn: (t: { store: ThrottleStore; t0: number; id: string }) => Promise<void>): void => {
    it(title, { skip: skipped(title) }, () =>
      fn({ store: o.store(), t0: o.now(), id: randomBytes(4).toString('hex') }),
    );
  };
  const p = SUITE_POLICY;
  let n = 0;
  const pw = () => `guess-${n++}`;

  describe(`throttle store: ${name}`, () => {
    test('below the pair limit nothing is throttled; at it, initial delay; then doubling up to the cap', async ({
      store,
      t0,
      id,
    }) => {
      const a = `10.${id}`;
      const delays: number[] = [];
      let t = t0;
      for (let i = 1; i <= 8; i++) {
        const r = await store.fail(a, 'alice', pw(), t, p);
        assert.equal(r.counted, true);
        const th = await store.check(a, 'alice', t);
        delays.push(th ? th.until - t : 0);
        if (th) assert.equal(th.reason, 'pair', 'the pair delay is never shorter (on a tie the pair is named)');
        t = th ? th.until : t + 1;
      }
      assert.deepEqual(delays.slice(0, 4), [0, 0, 1000, 2000]);
      // From the 5th failure on the address limit (5) throttles too, but the pair's later end is the one reported.
      assert.deepEqual(delays.slice(4), [4000, 8000, 8000, 8000]);
    });

    test('the same wrong password from the same address counts once; from another address it counts again', async ({
      store,
      t0,
      id,
    }) => {
      const a = `10.${id}`;
      for (let i = 0; i < 100; i++)
        assert.equal((await store.fail(a, 'bob', 'stale', t0 + i, p)).counted, i === 0, `send ${i + 1}`);
      assert.equal(await store.check(a, 'bob', t0 + 100), null, 'one failure is below every limit');
      assert.equal((await store.fail(`11.${id}`, 'bob', 'stale', t0, p)).counted, true);
    });

    test('a throttled pair stops neither that user elsewhere nor other users from that address', async ({
      store,
      t0,
      id,
    }) => {
      const a = `10.${id}`;
      for (let i = 0; i < p.pairMaxFailures; i++) await store.fail(a, 'dave', pw(), t0, p);
      assert.equal((await store.check(a, 'dave', t0))?.reason, 'pair');
      assert.equal(await store.check(`12.${id}`, 'dave', t0), null, 'the same user from another address');
      assert.equal(await store.check(a, 'erin', t0), null, 'another user from the same address');
    });

    test('the address limit counts every user name tried from it and throttles them all', async ({ store, t0, id }) => {
      const a = `10.${id}`;
      const started: string[] = [];
      for (let i = 0; i < p.addressMaxFailures; i++)
        started.push(...(await store.fail(a, `spray${i}`, pw(), t0, p)).started);
      assert.deepEqual(started, ['address'], 'one start, logged once');
      const th = await store.check(a, 'anyone', t0);
      assert.deepEqual(th, { until: t0 + p.initialDelayMs, reason: 'address' });
      assert.equal(await store.check(`13.${id}`, 'anyone', t0), null);
    });

    test('the user-wide limit slows only addresses that failed for that user, from their next failure', async ({
      store,
      t0,
      id,
    }) => {
      const user = `victim-${id}`;
      const started: string[] = [];
      // 8 addresses, one failure each: the 8th reaches the user-wide limit and is slowed at once.
      for (let i = 0; i < p.userMaxFailures; i++)
        started.push(...(await store.fail(`20.${id}.${i}`, user, pw(), t0, p)).started);
      assert.deepEqual(started, ['user']);
      assert.deepEqual(await store.check(`20.${id}.7`, user, t0), { until: t0 + p.initialDelayMs, reason: 'user' });
      assert.equal(await store.check(`20.${id}.0`, user, t0), null, 'not yet: its next failure slows it');
      const r = await store.fail(`20.${id}.0`, user, pw(), t0 + 1, p);
      assert.deepEqual(r.started, ['user'], 'a start per address');
      assert.equal(
        (await store.check(`20.${id}.0`, user, t0 + 1))?.until,
        t0 + 1 + 2 * p.initialDelayMs,
        'its second failure: doubled',
      );
      assert.equal(
        await store.check(`21.${id}`, user, t0 + 1),
        null,
        'an address with no failure for the user is never slowed',
      );
    });

    test('a correct password forgives the pair and takes its failures off the address', async ({ store, t0, id }) => {
      const a = `10.${id}`;
      for (let i = 0; i < p.pairMaxFailures - 1; i++) await store.fail(a, 'frank', pw(), t0, p);
      await store.succeed(a, 'frank', t0);
      // Had the two failures stayed, three more (one user each) would reach the address limit of 5.
      for (let i = 0; i < 3; i++) await store.fail(a, `other${i}`, pw(), t0, p);
      assert.equal(await store.check(a, 'other0', t0), null);
      for (let i = 0; i < p.pairMaxFailures - 1; i++) await store.fail(a, 'frank', pw(), t0, p);
      assert.equal(
        (await store.check(a, 'frank', t0))?.reason,
        'address',
        'the forgiven pair starts from zero: only the address limit (3 + 2) is reached',
      );
    });

    test('counts are forgotten a window after the last failure or the throttle end, whichever is later', async ({
      store,
      t0,
      id,
    }) => {
      const a = `10.${id}`;
      for (let i = 0; i < p.pairMaxFailures; i++) await store.fail(a, 'gina', pw(), t0, p);
      const until = t0 + p.initialDelayMs;
      // One moment before it is forgotten, a failure continues the count (doubling); after it, one starts afresh.
      await store.fail(a, 'gina', pw(), until + p.windowMs - 1, p);
      assert.equal(
        (await store.check(a, 'gina', until + p.windowMs - 1))?.until,
        until + p.windowMs - 1 + 2 * p.initialDelayMs,
      );
      const later = until + p.windowMs - 1 + 2 * p.initialDelayMs + p.windowMs;
      const r = await store.fail(a, 'gina', pw(), later, p);
      assert.deepEqual(r, { counted: true, started: [] });
      assert.equal(await store.check(a, 'gina', later), null);
    });
  });
}
