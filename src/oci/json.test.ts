import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nestsDeeperThan } from './json.js';

const b = (s: string) => Buffer.from(s);

test('nesting is counted over arrays and objects, mixed', () => {
  assert.equal(nestsDeeperThan(b('[[[]]]'), 3), false);
  assert.equal(nestsDeeperThan(b('[[[[]]]]'), 3), true);
  assert.equal(nestsDeeperThan(b('{"a":[{"b":[]}]}'), 4), false);
  assert.equal(nestsDeeperThan(b('{"a":[{"b":[{}]}]}'), 4), true);
  // Siblings do not add up.
  assert.equal(nestsDeeperThan(b('[[],[],[[]]]'), 3), false);
});

test('brackets inside strings, escaped quotes included, do not count', () => {
  assert.equal(nestsDeeperThan(b(`{"a":"${'['.repeat(100)}"}`), 1), false);
  assert.equal(nestsDeeperThan(b(`{"a":"\\"${'{'.repeat(100)}"}`), 1), false);
  assert.equal(nestsDeeperThan(b(`{"a":"\\\\", "b":[[]]}`), 2), true);
});

test('100,000 levels are found without recursing', () => {
  assert.equal(nestsDeeperThan(b('['.repeat(100_000) + ']'.repeat(100_000)), 64), true);
});
