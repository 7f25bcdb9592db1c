/**
 * Login throttling: make password guessing slow for the guesser without ever locking the owner out.
 *
 * What is counted: a failed password check, per client address (all user names) and per (user name, address)
 * pair; optionally per user name across all addresses, for attacks spread over many addresses. A wrong
 * password re-sent from the same address (a retrying client, a stale CI secret) counts once: the store
 * remembers a keyed hash (HMAC) of user name and password for `windowMs`, never the password.
 *
 * What happens past a limit: that address, or that pair, is throttled: every password check from it is
 * answered 429 TOOMANYREQUESTS with `Retry-After`, without looking at the password (were a correct password let
 * through, the answer would tell the guesser which guess was right, and guessing would not be slowed at all).
 * Each further failure doubles the delay, up to `maxDelayMs`. The user-wide limit never throttles an address by
 * itself: once a user name has drawn `userMaxFailures` failures, an address that has failed for it is throttled
 * from its own first failure on, while an address that has not failed for it is never slowed.
 *
 * Forgetting: a key's count is forgotten `windowMs` after its last counted failure or the end of its throttle,
 * whichever is later. A correct password forgets the pair and takes its failures off the address and user
 * counts. Stores are bounded (in memory: least recently used keys go first) or expire (Redis).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { throttleAddressKey } from './clientaddress.js';

export type ThrottleReason = 'address' | 'pair' | 'user';

export interface ThrottlePolicy {
  enabled: boolean;
  /** How long failures (and failed-password hashes) are remembered after a key's last failure or throttle end. */
  windowMs: number;
  /** Failures for one user name from one address before that pair is throttled (`bruteforce.maxfailures`). */
  pairMaxFailures: number;
  /** Failures from one address, all user names together, before the address is throttled. */
  addressMaxFailures: number;
  /** Failures for one user name, all addresses together, before the user-wide rule applies; 0: no such rule. */
  userMaxFailures: number;
  /** The first delay once a limit is reached; each further failure doubles it. */
  initialDelayMs: number;
  /** The longest delay (the cap of the doubling). */
  maxDelayMs: number;
}

/** The delay after the `n`-th failure of a key whose limit is `limit`: none below it, then initial, doubling, capped. */
export function backoffMs(n: number, limit: number, p: Pick<ThrottlePolicy, 'initialDelayMs' | 'maxDelayMs'>): number {
  if (limit <= 0 || n < limit) return 0;
  return Math.min(p.maxDelayMs, p.initialDelayMs * 2 ** Math.min(n - limit, 60));
}

/** A throttle in force: until when (ms since the epoch) and which limit imposed it. */
export interface Throttle {
  until: number;
  reason: ThrottleReason;
}

export interface FailResult {
  /** False when the same failed password was already counted from this address within the window. */
  counted: boolean;
  /**
   * Throttles this failure started, each the first on its key since the key was last forgotten (so logged once
   * per address): `address`, `pair`, or `user` (this address's pair, because the user-wide limit is reached).
   */
  started: ThrottleReason[];
}

/** Where the counts live: this process (MemoryThrottleStore) or Redis for replicas (src/redis/bruteforce.ts). */
export interface ThrottleStore {
  /** The throttle on `user` from `address` at `now` (the one ending last), or null. */
  check(address: string, user: string, now: number): Throttle | null | Promise<Throttle | null>;
  /** Counts a failure unless `seen` (the failed password's keyed hash) was counted from `address` within the window. */
  fail(address: string, user: string, seen: string, now: number, p: ThrottlePolicy): Promise<FailResult>;
  /** A correct password: forgets the pair and takes its failures off the address and user counts. */
  succeed(address: string, user: string, now: number): Promise<void>;
}

/** A failure count with its throttle; `expires` is when it is forgotten. */
interface Counter {
  n: number;
  until: number;
  reason: ThrottleReason;
  expires: number;
}

/** A Map that forgets its least recently used entries beyond `max`, and entries past their expiry. */
class Bounded<V extends { expires: number }> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string, now: number): V | undefined {
    const v = this.map.get(key);
    if (!v) return undefined;
    this.map.delete(key);
    if (v.expires <= now) return undefined;
    this.map.set(key, v);
    return v;
  }

  /** Peeks without refreshing recency (checks must not keep an entry alive that only failures should). */
  peek(key: string, now: number): V | undefined {
    const v = this.map.get(key);
    return v && v.expires > now ? v : undefined;
  }

  set(key: string, v: V): void {
    this.map.delete(key);
    this.map.set(key, v);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }

  delete(key: string): void {
    this.map.delete(key);
  }
}

/** `c` with one more failure (a new counter when there was none). */
function bump(c: Counter | undefined): Counter {
  return c ? { ...c, n: c.n + 1 } : { n: 1, until: 0, reason: 'pair', expires: 0 };
}

export class MemoryThrottleStore implements ThrottleStore {
  private readonly counters: Bounded<Counter>;
  private readonly seen: Bounded<{ expires: number }>;

  /** At most `maxTracked` counters and as many remembered password hashes (about 200 bytes each). */
  constructor(maxTracked = 100_000) {
    this.counters = new Bounded(maxTracked);
    this.seen = new Bounded(maxTracked);
  }

  /** No counter at all: the hot path of every authenticated request skips the lookups. */
  get empty(): boolean {
    return this.counters.size === 0;
  }

  check(address: string, user: string, now: number): Throttle | null {
    let best: Throttle | null = null;
    const a = this.counters.peek(`a\0${address}`, now);
    if (a && a.until > now) best = { until: a.until, reason: 'address' };
    const p = this.counters.peek(`p\0${address}\0${user}`, now);
    if (p && p.until > now && (!best || p.until >= best.until)) best = { until: p.until, reason: p.reason };
    return best;
  }

  async fail(address: string, user: string, seen: string, now: number, p: ThrottlePolicy): Promise<FailResult> {
    return this.failNow(address, user, seen, now, p);
  }

  async succeed(address: string, user: string, now: number): Promise<void> {
    this.succeedNow(address, user, now);
  }

  /** fail(), synchronously (the in-memory store needs no I/O; the rate estimates in bruteforcepolicy.ts use it). */
  failNow(address: string, user: string, seen: string, now: number, p: ThrottlePolicy): FailResult {
    const seenKey = `${address}\0${seen}`;
    if (this.seen.get(seenKey, now)) {
      this.seen.set(seenKey, { expires: now + p.windowMs });
      return { counted: false, started: [] };
    }
    this.seen.set(seenKey, { expires: now + p.windowMs });
    const started: ThrottleReason[] = [];
    const keep = (key: string, c: Counter) =>
      this.counters.set(key, { ...c, expires: Math.max(now, c.until) + p.windowMs });

    let u: Counter | undefined;
    if (p.userMaxFailures > 0) {
      u = bump(this.counters.get(`u\0${user}`, now));
      keep(`u\0${user}`, u);
    }
    const a = bump(this.counters.get(`a\0${address}`, now));
    const aDelay = backoffMs(a.n, p.addressMaxFailures, p);
    if (aDelay > 0) {
      if (a.until === 0) started.push('address');
      a.until = Math.max(a.until, now + aDelay);
      a.reason = 'address';
    }
    keep(`a\0${address}`, a);

    const pr = bump(this.counters.get(`p\0${address}\0${user}`, now));
    const pairDelay = backoffMs(pr.n, p.pairMaxFailures, p);
    const userDelay = u && u.n >= p.userMaxFailures ? backoffMs(pr.n, 1, p) : 0;
    if (pairDelay > 0 || userDelay > 0) {
      pr.reason = pairDelay >= userDelay ? 'pair' : 'user';
      if (pr.until === 0) started.push(pr.reason);
      pr.until = Math.max(pr.until, now + Math.max(pairDelay, userDelay));
    }
    keep(`p\0${address}\0${user}`, pr);
    return { counted: true, started };
  }

  succeedNow(address: string, user: string, now: number): void {
    const pairKey = `p\0${address}\0${user}`;
    const pr = this.counters.get(pairKey, now);
    if (!pr) return;
    this.counters.delete(pairKey);
    for (const key of [`a\0${address}`, `u\0${user}`]) {
      const c = this.counters.get(key, now);
      if (c) this.counters.set(key, { ...c, n: Math.max(0, c.n - pr.n) });
    }
  }
}

export interface ThrottleHooks {
  /** A password check refused because of a throttle (for metrics). */
  throttled?(reason: ThrottleReason): void;
  /** A limit reached for the first time since its key was forgotten (logged once, with the user name). */
  started?(event: { reason: ThrottleReason; user: string; address: string }): void;
}

export interface GuardOptions {
  store?: ThrottleStore;
  now?: () => number;
  /** Keys the failed-password hashes; replicas sharing a store must share it (derived from http.secret). */
  secret?: string | Buffer;
  hooks?: ThrottleHooks;
}

/** The one object every password check asks (htpasswd on the API and UI, the token server). */
export class BruteForceGuard {
  private readonly store: ThrottleStore;
  private readonly now: () => number;
  private readonly secret: Buffer | string;
  private readonly hooks: ThrottleHooks;

  constructor(
    readonly policy: ThrottlePolicy,
    opts: GuardOptions = {},
  ) {
    this.store = opts.store ?? new MemoryThrottleStore();
    this.now = opts.now ?? Date.now;
    this.secret = opts.secret ?? randomBytes(32);
    this.hooks = opts.hooks ?? {};
  }

  /**
   * Seconds until `user` may try a password from `address` again, or 0 when not throttled. Synchronous (a
   * number) with the in-memory store: every request carrying Basic credentials asks, so it should cost nothing.
   */
  retryAfter(user: string, address: string | undefined): number | Promise<number> {
    if (!this.policy.enabled) return 0;
    const store = this.store;
    if (store instanceof MemoryThrottleStore && store.empty) return 0;
    const t = this.now();
    const answer = (th: Throttle | null): number => {
      if (!th || th.until <= t) return 0;
      this.hooks.throttled?.(th.reason);
      return Math.ceil((th.until - t) / 1000);
    };
    const r = store.check(key(address), user, t);
    return r instanceof Promise ? r.then(answer) : answer(r);
  }

  /** Counts a wrong password (by its keyed hash, never the password itself). */
  async recordFailure(user: string, password: string, address: string | undefined): Promise<FailResult> {
    if (!this.policy.enabled) return { counted: false, started: [] };
    const seen = createHmac('sha256', this.secret)
      .update(user)
      .update('\0')
      .update(password)
      .digest('base64url')
      .slice(0, 22);
    const addr = key(address);
    const r = await this.store.fail(addr, user, seen, this.now(), this.policy);
    for (const reason of r.started) this.hooks.started?.({ reason, user, address: addr });
    return r;
  }

  /** A correct password from `address`: that pair's failures are forgiven. */
  async recordSuccess(user: string, address: string | undefined): Promise<void> {
    if (this.policy.enabled) await this.store.succeed(key(address), user, this.now());
  }
}

function key(address: string | undefined): string {
  return address ? throttleAddressKey(address) : 'unknown';
}
