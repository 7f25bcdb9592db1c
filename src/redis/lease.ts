/**
 * The scheduled cleanup's lease shared by replicas (src/policies/scheduler.ts): `wharf:cleanup:lease` holds the
 * running replica's token (`SET NX PX <lease>`, renewed every third of it while the run lasts, released only by
 * its holder), `wharf:cleanup:done:<period>` says a period ran. A replica that dies holding the lease frees it
 * after `leaseMs`; a waiting replica then takes the period over. Redis unreachable: `unavailable` (no run, rather
 * than two at once).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { LeaseHandle, PeriodLease } from '../policies/scheduler.js';
import type { RedisConnection } from './connection.js';
import { DELETE_IF_OWNED, RENEW_IF_OWNED } from './owned.js';

const LEASE_KEY = 'wharf:cleanup:lease';
const doneKey = (period: number) => `wharf:cleanup:done:${period}`;

export class RedisPeriodLease implements PeriodLease {
  constructor(
    private readonly redis: RedisConnection,
    private readonly leaseMs: number,
    /** How long a done mark is kept (longer than a period). */
    private readonly doneTtlMs: number,
    private readonly log: Logger,
  ) {}

  async acquire(period: number): Promise<LeaseHandle | 'held' | 'done' | 'unavailable'> {
    const done = await this.redis.run((c) => c.exists(doneKey(period)));
    if (done === undefined) return 'unavailable';
    if (done > 0) return 'done';
    const token = randomBytes(16).toString('hex');
    const got = await this.redis.run((c) => c.set(LEASE_KEY, token, 'PX', this.leaseMs, 'NX'));
    if (got === undefined) return 'unavailable';
    if (got === null) return 'held';
    const release = async () => {
      clearInterval(renew);
      await this.redis.run((c) => c.eval(DELETE_IF_OWNED, 1, LEASE_KEY, token));
    };
    // The holder may have finished between our check and our SET: then its done mark is there now.
    if (((await this.redis.run((c) => c.exists(doneKey(period)))) ?? 0) > 0) {
      await this.redis.run((c) => c.eval(DELETE_IF_OWNED, 1, LEASE_KEY, token));
      return 'done';
    }
    const renew = setInterval(
      () => {
        void this.redis
          .run((c) => c.eval(RENEW_IF_OWNED, 1, LEASE_KEY, token, this.leaseMs))
          .then((r) => {
            if (r === 0)
              this.log.warn(
                `scheduled cleanup: the lease of period ${period} was lost (this replica stalled for longer than gc.schedule.lease); another replica may run it too`,
              );
          });
      },
      Math.max(100, Math.floor(this.leaseMs / 3)),
    );
    renew.unref();
    return {
      complete: async () => {
        await this.redis.run((c) => c.set(doneKey(period), token, 'PX', this.doneTtlMs));
        await release();
      },
      release,
    };
  }
}
