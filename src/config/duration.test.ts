import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from './duration.js';

test('Go duration strings become milliseconds', () => {
  const cases: Array<[string, number]> = [
    ['10s', 10_000],
    ['5m', 300_000],
    ['168h', 604_800_000],
    ['24h', 86_400_000],
    ['1h30m', 5_400_000],
    ['1h30m15s', 5_415_000],
    ['500ms', 500],
    ['1.5s', 1500],
    ['.5s', 500],
    ['1.s', 1000],
    ['2500us', 2.5],
    ['2500µs', 2.5],
    ['2500μs', 2.5],
    ['1000000ns', 1],
    ['0', 0],
    ['0s', 0],
    ['+5s', 5000],
    ['-5s', -5000],
    [' 10s ', 10_000],
  ];
  for (const [input, ms] of cases) assert.equal(parseDuration(input), ms, JSON.stringify(input));
});

test('bare integers are nanoseconds, as Go reads them', () => {
  assert.equal(parseDuration(1_000_000), 1);
  assert.equal(parseDuration(0), 0);
  assert.equal(parseDuration(10_000_000_000), 10_000);
});

test('anything else is not a duration', () => {
  for (const input of [
    '',
    ' ',
    '10',
    '5m3',
    's',
    'h1',
    '1x',
    '10 s',
    '1h 30m',
    '1d',
    '1w',
    '--5s',
    '5s-',
    'ten seconds',
    '1e3s',
    '1,5s',
  ]) {
    assert.equal(parseDuration(input), null, JSON.stringify(input));
  }
  for (const input of [null, undefined, true, {}, [], Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.equal(parseDuration(input), null, String(input));
  }
});
