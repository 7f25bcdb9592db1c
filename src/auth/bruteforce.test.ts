import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BruteForceGuard, MemoryBruteForceStore, type BruteForceStore } from './bruteforce.js';

test('the guard blocks a user and an address after maxFailures in the window, through any store', async () => {
  let now = 0;
  const store = new MemoryBruteForceStore();
  const opts = { enabled: true, maxFailures: 3, windowMs: 1000, blockMs: 5000 };
  // Two guards on one store: two replicas sharing counters.
  const a = new BruteForceGuard(opts, () => now, store);
  const b = new BruteForceGuard(opts, () => now, store);
  await a.recordFailure('alice', '10.0.0.1');
  await a.recordFailure('alice', '10.0.0.2');
  assert.equal(await b.retryAfter('alice', '10.0.0.3'), 0);
  await b.recordFailure('alice', '10.0.0.3');
  assert.equal(await a.retryAfter('alice', '10.0.0.9'), 5);
  await a.recordSuccess('alice');
  assert.equal(await b.retryAfter('alice', undefined), 5, 'a block is not lifted by a success');
  now += 5001;
  assert.equal(await b.retryAfter('alice', undefined), 0);
});

test('failures older than the window do not count; a disabled guard never asks its store', async () => {
  let now = 0;
  const g = new BruteForceGuard({ enabled: true, maxFailures: 2, windowMs: 100, blockMs: 1000 }, () => now);
  await g.recordFailure('bob', undefined);
  now += 150;
  await g.recordFailure('bob', undefined);
  assert.equal(await g.retryAfter('bob', undefined), 0);
  const refuse: BruteForceStore = {
    blockedUntil: () => Promise.reject(new Error('used')),
    fail: () => Promise.reject(new Error('used')),
    clear: () => Promise.reject(new Error('used')),
  };
  const off = new BruteForceGuard({ enabled: false, maxFailures: 1, windowMs: 1, blockMs: 1 }, Date.now, refuse);
  await off.recordFailure('x', 'y');
  assert.equal(await off.retryAfter('x', 'y'), 0);
  await off.recordSuccess('x');
});
