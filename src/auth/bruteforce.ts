/**
 * Brute-force protection: failed logins are counted per user name and per client address in a sliding
 * window; past the limit, that user or address is refused with 429 TOOMANYREQUESTS until the block ends.
 * Where the counts live is a small store: in memory (default; bounded, the oldest key forgotten first) or
 * shared by replicas (src/redis/bruteforce.ts, chosen in app.ts).
 */

export interface BruteForceOptions {
  enabled: boolean;
  /** Failures within `windowMs` that trigger a block. */
  maxFailures: number;
  windowMs: number;
  blockMs: number;
  maxTracked?: number;
}

export type BruteForceLimits = Pick<BruteForceOptions, 'maxFailures' | 'windowMs' | 'blockMs'>;

/** Failure counts per key (`u:<user>` or `a:<address>`). */
export interface BruteForceStore {
  /** Until when `key` is blocked (ms since the epoch; not blocked when <= now). */
  blockedUntil(key: string, now: number): Promise<number>;
  /** Counts a failure at `now`; once `maxFailures` fall within `windowMs`, blocks the key for `blockMs` and restarts the count. */
  fail(key: string, now: number, limits: BruteForceLimits): Promise<void>;
  /** Forgets the failures counted against `key`, unless it is blocked. */
  clear(key: string, now: number): Promise<void>;
}

interface Entry {
  failures: number[];
  blockedUntil: number;
}

export class MemoryBruteForceStore implements BruteForceStore {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxTracked = 100_000) {}

  async blockedUntil(key: string, _now?: number): Promise<number> {
    return this.blockedUntilNow(key);
  }

  /** The same, synchronously: the in-memory store needs no I/O. */
  blockedUntilNow(key: string): number {
    return this.entries.get(key)?.blockedUntil ?? 0;
  }

  get size(): number {
    return this.entries.size;
  }

  async fail(key: string, now: number, limits: BruteForceLimits): Promise<void> {
    let e = this.entries.get(key);
    if (!e) {
      e = { failures: [], blockedUntil: 0 };
      if (this.entries.size >= this.maxTracked) this.entries.delete(this.entries.keys().next().value as string);
    } else {
      this.entries.delete(key);
    }
    this.entries.set(key, e);
    e.failures = e.failures.filter((f) => f > now - limits.windowMs);
    e.failures.push(now);
    if (e.failures.length >= limits.maxFailures) {
      e.blockedUntil = now + limits.blockMs;
      e.failures = [];
    }
  }

  async clear(key: string, now: number): Promise<void> {
    const e = this.entries.get(key);
    if (e && e.blockedUntil <= now) this.entries.delete(key);
  }
}

export class BruteForceGuard {
  constructor(
    private readonly opts: BruteForceOptions,
    private readonly now: () => number = Date.now,
    private readonly store: BruteForceStore = new MemoryBruteForceStore(opts.maxTracked),
  ) {}

  private keys(user: string | undefined, address: string | undefined): string[] {
    const out: string[] = [];
    if (user !== undefined && user !== '') out.push(`u:${user}`);
    if (address) out.push(`a:${address}`);
    return out;
  }

  /**
   * Seconds until the user or address may try again, or 0 when not blocked. With the in-memory store the answer
   * is synchronous (a number): every authenticated request asks, so it should cost nothing.
   */
  retryAfter(user: string | undefined, address: string | undefined): number | Promise<number> {
    if (!this.opts.enabled) return 0;
    const t = this.now();
    const seconds = (until: number) => (until > t ? Math.ceil((until - t) / 1000) : 0);
    const store = this.store;
    if (store instanceof MemoryBruteForceStore) {
      if (store.size === 0) return 0;
      return seconds(Math.max(0, ...this.keys(user, address).map((k) => store.blockedUntilNow(k))));
    }
    return Promise.all(this.keys(user, address).map((k) => store.blockedUntil(k, t))).then((all) => seconds(Math.max(0, ...all)));
  }

  async recordFailure(user: string | undefined, address: string | undefined): Promise<void> {
    if (!this.opts.enabled) return;
    const t = this.now();
    await Promise.all(this.keys(user, address).map((k) => this.store.fail(k, t, this.opts)));
  }

  /** A successful login clears the failures counted against that user (not the address). */
  async recordSuccess(user: string | undefined): Promise<void> {
    if (user && this.opts.enabled) await this.store.clear(`u:${user}`, this.now());
  }
}
