/**
 * Health: Distribution's storage-driver check (`health.storagedriver`: stat the root every `interval`, unhealthy
 * after `threshold` consecutive failures), reported at /debug/health and by the readiness probe.
 */
import type { Logger } from 'pino';
import { isNotFound, type StorageDriver } from './storage/driver.js';

export interface CheckStatus {
  healthy: boolean;
  /** check name -> error message, for the failing ones (Distribution's /debug/health body). */
  failures: Record<string, string>;
}

export class HealthChecks {
  private consecutive = 0;
  private lastError = '';
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly driver: StorageDriver, private readonly opts: { enabled: boolean; intervalMs: number; threshold: number }, private readonly log: Logger) {}

  start(): void {
    if (!this.opts.enabled) return;
    const run = () => void this.check();
    run();
    this.timer = setInterval(run, this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async check(): Promise<void> {
    try {
      await this.driver.stat('/');
      this.ok();
    } catch (err) {
      if (isNotFound(err)) return this.ok();
      this.consecutive++;
      this.lastError = (err as Error).message;
      if (this.consecutive === this.opts.threshold) this.log.error({ err: this.lastError }, `health: storage driver ${this.driver.name} is unhealthy`);
    }
  }

  private ok(): void {
    if (this.consecutive >= this.opts.threshold) this.log.info(`health: storage driver ${this.driver.name} is healthy again`);
    this.consecutive = 0;
  }

  status(): CheckStatus {
    if (this.opts.enabled && this.consecutive >= this.opts.threshold) {
      return { healthy: false, failures: { [`storagedriver_${this.driver.name}`]: this.lastError } };
    }
    return { healthy: true, failures: {} };
  }
}
