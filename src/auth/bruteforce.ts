/**
 * Brute-force protection: failed logins are counted per user name and per client address in a sliding
 * window; past the limit, that user or address is refused with 429 TOOMANYREQUESTS until the block ends.
 * Memory is bounded: at most `maxTracked` keys are kept, the oldest forgotten first.
 */

export interface BruteForceOptions {
  enabled: boolean;
  /** Failures within `windowMs` that trigger a block. */
  maxFailures: number;
  windowMs: number;
  blockMs: number;
  maxTracked?: number;
}

interface Entry {
  failures: number[];
  blockedUntil: number;
}

export class BruteForceGuard {
  private readonly entries = new Map<string, Entry>();
  private readonly maxTracked: number;

  constructor(private readonly opts: BruteForceOptions, private readonly now: () => number = Date.now) {
    this.maxTracked = opts.maxTracked ?? 100_000;
  }

  private keys(user: string | undefined, address: string | undefined): string[] {
    const out: string[] = [];
    if (user !== undefined && user !== '') out.push(`u:${user}`);
    if (address) out.push(`a:${address}`);
    return out;
  }

  /** Seconds until the user or address may try again, or 0 when not blocked. */
  retryAfter(user: string | undefined, address: string | undefined): number {
    if (!this.opts.enabled) return 0;
    const t = this.now();
    let until = 0;
    for (const k of this.keys(user, address)) {
      const e = this.entries.get(k);
      if (e && e.blockedUntil > t) until = Math.max(until, e.blockedUntil);
    }
    return until > t ? Math.ceil((until - t) / 1000) : 0;
  }

  recordFailure(user: string | undefined, address: string | undefined): void {
    if (!this.opts.enabled) return;
    const t = this.now();
    for (const k of this.keys(user, address)) {
      let e = this.entries.get(k);
      if (!e) {
        e = { failures: [], blockedUntil: 0 };
        if (this.entries.size >= this.maxTracked) this.entries.delete(this.entries.keys().next().value as string);
      } else {
        this.entries.delete(k);
      }
      this.entries.set(k, e);
      e.failures = e.failures.filter((f) => f > t - this.opts.windowMs);
      e.failures.push(t);
      if (e.failures.length >= this.opts.maxFailures) {
        e.blockedUntil = t + this.opts.blockMs;
        e.failures = [];
      }
    }
  }

  /** A successful login clears the failures counted against that user (not the address). */
  recordSuccess(user: string | undefined): void {
    if (user) {
      const e = this.entries.get(`u:${user}`);
      if (e && e.blockedUntil <= this.now()) this.entries.delete(`u:${user}`);
    }
  }
}
