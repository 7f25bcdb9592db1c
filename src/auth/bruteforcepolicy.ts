/**
 * The throttling policy from the config, and what it means in numbers: how many passwords a guesser can try per
 * hour. The numbers are not a formula but a run of the real in-memory store on a simulated clock, against the
 * best strategy of a simple family (use the free failures, then `j` backoff guesses each at the earliest
 * moment, then pause until the store forgets; `j` = infinity never pauses), so they stay true if the arithmetic
 * changes. `wharf config check` prints them; docs/authentication.md quotes them for the defaults.
 */
import type { BruteforceConfig } from '../config/schema.js';
import { MemoryThrottleStore, type ThrottlePolicy } from './bruteforce.js';

export function throttlePolicyOf(b: BruteforceConfig): ThrottlePolicy {
  return {
    enabled: b.enabled,
    windowMs: b.window,
    pairMaxFailures: b.maxfailures,
    addressMaxFailures: b.addressmaxfailures,
    userMaxFailures: b.usermaxfailures,
    initialDelayMs: b.backoff.initial,
    maxDelayMs: b.backoff.max,
  };
}

export type AttackShape = 'one-user' | 'many-users' | 'after-user-limit';

const HOUR = 3_600_000;

/**
 * Passwords one address can have checked in `hours`, at best, in the shape given: all against one user name,
 * each against a different user name (password spraying), or against one user name whose user-wide limit is
 * reached (what each address of a distributed attack gets).
 */
export function maxGuesses(p: ThrottlePolicy, shape: AttackShape, hours = 1): number {
  let best = 0;
  for (const j of [...Array.from({ length: 40 }, (_, i) => i), Infinity])
    best = Math.max(best, guessesWith(p, shape, j, hours * HOUR));
  return best;
}

function guessesWith(base: ThrottlePolicy, shape: AttackShape, extra: number, horizon: number): number {
  const p =
    shape === 'after-user-limit'
      ? { ...base, userMaxFailures: 1 }
      : shape === 'many-users'
        ? { ...base, userMaxFailures: 0 }
        : base;
  const free =
    shape === 'many-users'
      ? p.addressMaxFailures
      : shape === 'one-user'
        ? Math.min(p.pairMaxFailures, p.addressMaxFailures)
        : 1;
  const store = new MemoryThrottleStore();
  let t = 0;
  let count = 0;
  let inCycle = 0;
  let lastActive = 0;
  while (t < horizon) {
    const user = shape === 'many-users' ? `u${count}` : 'victim';
    const th = store.check('a', user, t);
    if (th) {
      lastActive = th.until;
      t = th.until;
      continue;
    }
    if (inCycle >= free + extra) {
      // Pause until everything this address did is forgotten.
      t = lastActive + p.windowMs + 1;
      inCycle = 0;
      continue;
    }
    store.failNow('a', user, `guess-${count}`, t, p);
    count++;
    inCycle++;
    lastActive = t;
    t += 1;
  }
  return count;
}

function duration(ms: number): string {
  if (ms % HOUR === 0) return `${ms / HOUR}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The policy in words, one sentence a line (printed by `wharf config check`). */
export function describePolicy(p: ThrottlePolicy): string[] {
  if (!p.enabled)
    return ['login throttling is off (bruteforce.enabled: false): passwords can be guessed as fast as bcrypt answers'];
  const perDay = (shape: AttackShape) => Math.round(maxGuesses(p, shape, 24) / 24);
  const lines = [
    `a wrong password counts once per client address within ${duration(p.windowMs)}, however often it is re-sent; an empty or absent login is never counted`,
    `after ${p.pairMaxFailures} failures for one user name from one address, that user name from that address is slowed; after ${p.addressMaxFailures} failures from one address (any user names), the whole address is`,
    `slowed means: every password check from there gets 429 with Retry-After ${duration(p.initialDelayMs)}, doubling with each further failure up to ${duration(p.maxDelayMs)}, right or wrong password alike`,
    `counts are forgotten ${duration(p.windowMs)} after the last failure or the end of the delay; a correct password forgives that user's failures from that address`,
    p.userMaxFailures > 0
      ? `after ${p.userMaxFailures} failures for one user name from all addresses, every address that has failed for it is slowed from its first failure; addresses that have not failed for it are never slowed`
      : 'no user-wide limit (bruteforce.usermaxfailures: 0)',
    `one address can have at most ${maxGuesses(p, 'one-user')} passwords checked in an hour against one user name (${perDay('one-user')} an hour sustained), ${maxGuesses(p, 'many-users')} (${perDay('many-users')} sustained) spread over many user names`,
  ];
  if (p.userMaxFailures > 0)
    lines.push(
      `once a user name's limit is reached, each further attacking address gets at most ${maxGuesses(p, 'after-user-limit')} guesses in an hour (${perDay('after-user-limit')} an hour sustained)`,
    );
  return lines;
}
