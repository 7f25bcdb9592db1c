/** The bruteforce config keys, the policy in words, and the guess rates docs/authentication.md quotes. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../config/load.js';
import { describePolicy, maxGuesses, throttlePolicyOf } from './bruteforcepolicy.js';

const parse = (extra: string) => parseConfig(`version: 0.1\nstorage: inmemory\n${extra}`, 'test');
const problems = (extra: string) => {
  try {
    parse(extra);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
};

describe('bruteforce config', () => {
  it('defaults: 10 per pair, 3x per address, 10x per user, 30m window, backoff 1s to 15m', () => {
    assert.deepEqual(throttlePolicyOf(parse('').config.bruteforce), {
      enabled: true,
      windowMs: 1_800_000,
      pairMaxFailures: 10,
      addressMaxFailures: 30,
      userMaxFailures: 100,
      initialDelayMs: 1000,
      maxDelayMs: 900_000,
    });
    const scaled = parse('bruteforce:\n  maxfailures: 4\n').config.bruteforce;
    assert.deepEqual([scaled.addressmaxfailures, scaled.usermaxfailures], [12, 40]);
  });

  it('the old blockfor is read as backoff.max, with a warning saying so; ignored when backoff.max is set', () => {
    const old = parse('bruteforce:\n  blockfor: 2m\n');
    assert.equal(old.config.bruteforce.backoff.max, 120_000);
    assert.ok(
      old.warnings.some((w) =>
        /^bruteforce\.blockfor: deprecated: .*read as bruteforce\.backoff\.max, the longest Retry-After/.test(w),
      ),
      old.warnings.join('\n'),
    );
    const both = parse('bruteforce:\n  blockfor: 2m\n  backoff:\n    max: 1h\n');
    assert.equal(both.config.bruteforce.backoff.max, 3_600_000);
    assert.ok(
      both.warnings.some((w) => /blockfor: deprecated, and ignored because bruteforce\.backoff\.max is set/.test(w)),
    );
  });

  it('bad values name their key', () => {
    assert.deepEqual(problems('bruteforce:\n  backoff:\n    initial: 1m\n    max: 10s\n'), [
      'bruteforce.backoff: backoff.initial must be above 0 and at most backoff.max',
    ]);
    assert.match(problems('bruteforce:\n  blockfor: soon\n')[0], /^bruteforce\.blockfor: not a duration/);
    assert.match(problems('bruteforce:\n  backoff:\n    max: soon\n')[0], /^bruteforce\.backoff\.max: not a duration/);
    assert.match(problems('bruteforce:\n  usermaxfailures: -1\n')[0], /^bruteforce\.usermaxfailures:/);
  });

  it('http.trustedproxies: a list or a comma separated string of addresses and CIDR blocks', () => {
    assert.deepEqual(parse('http:\n  trustedproxies: [10.0.0.5, "fd00::/8"]\n').config.http.trustedproxies, [
      '10.0.0.5',
      'fd00::/8',
    ]);
    assert.deepEqual(
      parseConfig('version: 0.1\nstorage: inmemory\n', 't', { REGISTRY_HTTP_TRUSTEDPROXIES: '10.0.0.0/8, 192.0.2.1' })
        .config.http.trustedproxies,
      ['10.0.0.0/8', '192.0.2.1'],
    );
    assert.deepEqual(parse('').config.http.trustedproxies, []);
    assert.deepEqual(problems('http:\n  trustedproxies: [10.0.0.1, nginx.local, 10.0.0.0/40]\n'), [
      'http.trustedproxies.1: not an IP address or CIDR block: "nginx.local" (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)',
      'http.trustedproxies.2: not an IP address or CIDR block: "10.0.0.0/40" (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)',
    ]);
  });
});

describe('the policy in numbers and words', () => {
  const p = throttlePolicyOf(parse('').config.bruteforce);

  it('docs/authentication.md quotes the guess rates of the defaults as wharf computes them', () => {
    const docs = readFileSync(new URL('../../../docs/authentication.md', import.meta.url), 'utf8');
    const rows: Array<[string, 'one-user' | 'many-users' | 'after-user-limit']> = [
      ['one address, one user name', 'one-user'],
      ['one address, many user names (password spraying)', 'many-users'],
      ['each further address, once a user name has drawn 100 failures', 'after-user-limit'],
    ];
    for (const [label, shape] of rows) {
      const row = `| ${label} | ${maxGuesses(p, shape)} | ${Math.round(maxGuesses(p, shape, 24) / 24)} |`;
      assert.ok(docs.includes(row), `docs/authentication.md lacks the row ${row}`);
    }
  });

  it('a sustained guesser gets fewer per hour than one who starts fresh; a longer window slows everyone', () => {
    assert.ok(maxGuesses(p, 'one-user', 24) / 24 < maxGuesses(p, 'one-user'));
    assert.ok(maxGuesses({ ...p, windowMs: 3_600_000 }, 'one-user') < maxGuesses(p, 'one-user'));
    assert.ok(maxGuesses(p, 'after-user-limit') < maxGuesses(p, 'one-user'));
  });

  it('describePolicy says what is counted, what is slowed, and the rates; or that throttling is off', () => {
    const text = describePolicy(p).join('\n');
    for (const needle of [
      'counts once per client address within 30m',
      'after 10 failures for one user name from one address',
      'Retry-After 1s, doubling with each further failure up to 15m',
      'after 100 failures',
      'never slowed',
      `at most ${maxGuesses(p, 'one-user')} passwords`,
    ]) {
      assert.ok(text.includes(needle), `${needle}\n${text}`);
    }
    assert.deepEqual(describePolicy({ ...p, enabled: false }), [
      'login throttling is off (bruteforce.enabled: false): passwords can be guessed as fast as bcrypt answers',
    ]);
    assert.match(describePolicy({ ...p, userMaxFailures: 0 }).join('\n'), /no user-wide limit/);
  });
});
