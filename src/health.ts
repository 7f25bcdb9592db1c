/**
 * Health: Distribution's storage-driver check (`health.storagedriver`: stat the root every `interval`, unhealthy
 * after `threshold` consecutive failures), reported at /debug/health and by the readiness probe.
 *
 * Degraded checks (`redis`) are reported the same way but never make the registry unhealthy or unready: it still
 * serves everything from storage, and a load balancer taking every replica out because the shared cache is down
 * would turn a slowdown into an outage.
 */
import type { Logger } from 'pino';
import type { StorageDriver } from './storage/driver.js';
import { statOrNull } from './storage/notfound.js';

export interface CheckStatus {
  healthy: boolean;
  /** check name -> error message, for the failing ones (Distribution's /debug/health body). */
  failures: Record<string, string>;
  /** Failing checks that do not affect `healthy` (e.g. redis), same shape. */
  degraded: Record<string, string>;
}

export class HealthChecks {
  private consecutive = 0;
  private lastError = '';
  private timer: NodeJS.Timeout | null = null;
  private readonly degradedChecks: Array<{ name: string; failure: () => string | null }> = [];

  constructor(
    private readonly driver: StorageDriver,
    private readonly opts: { enabled: boolean; intervalMs: number; threshold: number },
    private readonly log: Logger,
  ) {}

  start(): void {
    if (!this.opts.enabled) return;
    const run = () => void this.check();
    run();
    this.timer = setInterval(run, this.opts.intervalMs);
    this.timer.unref();
  }

  /** Adds a check whose failure is reported but leaves the registry healthy (see above). */
  addDegradedCheck(name: string, failure: () => string | null): void {
    this.degradedChecks.push({ name, failure });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async check(): Promise<void> {
    try {
      // A missing root is a fresh, empty storage: healthy.
      await statOrNull(this.driver, '/');
      this.ok();
    } catch (err) {
      this.consecutive++;
      this.lastError = (err as Error).message;
      if (this.consecutive === this.opts.threshold)
        this.log.error({ err: this.lastError }, `health: storage driver ${this.driver.name} is unhealthy`);
    }
  }

  private ok(): void {
    if (this.consecutive >= this.opts.threshold)
      this.log.info(`health: storage driver ${this.driver.name} is healthy again`);
    this.consecutive = 0;
  }

  status(): CheckStatus {
    const degraded: Record<string, string> = {};
    for (const c of this.degradedChecks) {
      const f = c.failure();
      if (f !== null) degraded[c.name] = f;
    }
    if (this.opts.enabled && this.consecutive >= this.opts.threshold) {
      return { healthy: false, failures: { [`storagedriver_${this.driver.name}`]: this.lastError }, degraded };
    }
    return { healthy: true, failures: {}, degraded };
  }
}
