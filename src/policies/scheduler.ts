/**
 * `gc.schedule`: runs the cleanup (retention, then garbage collection) inside `wharf serve` once per period.
 * Periods are aligned to the Unix epoch plus `offset`, so every replica computes the same ones. At the start of
 * each period a replica asks the lease for it:
 *  - got it: runs, marks the period done, lets go (renewing it while it runs);
 *  - another replica holds it: retries every third of the lease until the period is done; when the holder dies
 *    its lease expires and a waiting replica takes the run over;
 *  - the period is done: nothing to do.
 * Without Redis the lease is this process's own (one replica). A first period starts at the next boundary after
 * start-up, never at once, so a restart does not trigger a run.
 */
import type { Logger } from 'pino';
import type { ScheduleConfig } from './schema.js';

export interface LeaseHandle {
  /** Marks the period done (others skip it) and lets the lease go. */
  complete(): Promise<void>;
  /** Lets the lease go without marking the period done. */
  release(): Promise<void>;
}

export interface PeriodLease {
  /** `held`: another replica runs this period; `done`: it ran; `unavailable`: the lease store cannot be reached. */
  acquire(period: number): Promise<LeaseHandle | 'held' | 'done' | 'unavailable'>;
}

/** The lease of a single replica: periods are remembered in this process only. */
export class LocalLease implements PeriodLease {
  private readonly done = new Set<number>();
  private running: number | null = null;

  async acquire(period: number): Promise<LeaseHandle | 'held' | 'done'> {
    if (this.done.has(period)) return 'done';
    if (this.running !== null) return 'held';
    this.running = period;
    return {
      complete: async () => {
        this.done.add(period);
        this.running = null;
      },
      release: async () => {
        this.running = null;
      },
    };
  }
}

/** The number of the period containing `t`, and when the next one starts. */
export function periodOf(
  t: number,
  s: Pick<ScheduleConfig, 'interval' | 'offset'>,
): { period: number; nextStart: number; end: number } {
  const period = Math.floor((t - s.offset) / s.interval);
  const end = s.offset + (period + 1) * s.interval;
  return { period, nextStart: end, end };
}

export interface ScheduleOptions {
  schedule: ScheduleConfig;
  lease: PeriodLease;
  /** One cleanup; resolves with a one-line summary for the log. */
  run: (period: number) => Promise<string>;
  log: Logger;
}

/** Starts the schedule; returns a function that stops it (a run in progress finishes on its own). */
export function startSchedule(opts: ScheduleOptions): () => void {
  const { schedule, lease, log } = opts;
  const retryMs = Math.max(250, Math.floor(schedule.lease / 3));
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const later = (ms: number, fn: () => void) => {
    if (stopped) return;
    timer = setTimeout(fn, Math.max(0, ms));
    timer.unref();
  };

  const attempt = async (period: number, end: number, waited: boolean): Promise<void> => {
    const got = await lease.acquire(period).catch((err: Error) => {
      log.warn({ err: err.message }, 'scheduled cleanup: cannot reach the lease');
      return 'unavailable' as const;
    });
    if (got === 'done') return;
    if (got === 'held' || got === 'unavailable') {
      if (Date.now() + retryMs >= end) {
        if (got === 'unavailable')
          log.warn(`scheduled cleanup: period ${period} skipped, the lease (redis) was unavailable`);
        return;
      }
      await new Promise<void>((r) => later(retryMs, r));
      if (!stopped) await attempt(period, end, waited || got === 'held');
      return;
    }
    log.info(
      { period, takeover: waited },
      `scheduled cleanup: period ${period} started on this replica${waited ? ' (taken over from a replica that stopped renewing its lease)' : ''}`,
    );
    try {
      const summary = await opts.run(period);
      log.info({ period }, `scheduled cleanup: period ${period} done: ${summary}`);
    } catch (err) {
      log.error(
        { period, err: (err as Error).message },
        `scheduled cleanup: period ${period} failed: ${(err as Error).message}`,
      );
    }
    // Done even when it failed: the next period tries again, rather than every replica at once now.
    await got
      .complete()
      .catch((err: Error) => log.warn({ err: err.message }, 'scheduled cleanup: cannot mark the period done'));
  };

  let last: number | null = null;
  const run = (period: number, end: number) => {
    last = period;
    void attempt(period, end, false).finally(arm);
  };
  const arm = () => {
    if (stopped) return;
    const now = Date.now();
    const current = periodOf(now, schedule);
    // A run that outlasted its period lands in the next one, whose boundary this replica missed while busy: that
    // period may be held by a replica that died since, so it is attempted now (a 'done' answer costs one call).
    if (last !== null && current.period > last) return run(current.period, current.end);
    later(current.nextStart - now, () => {
      const { period, end } = periodOf(Math.max(Date.now(), current.nextStart), schedule);
      run(period, end);
    });
  };
  arm();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
