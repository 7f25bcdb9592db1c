/**
 * Lifecycle rules in `wharf serve`: the `policies` (immutable tags for the HTTP handlers, retention for cleanup)
 * and the `gc.schedule` that runs cleanup. app.ts builds one Lifecycle; SIGHUP replaces the rules.
 */
import type { Logger } from 'pino';
import type { AccessPolicy } from '../auth/policy.js';
import type { Config } from '../config/schema.js';
import type { Metrics } from '../metrics.js';
import type { Notifier } from '../notifications/index.js';
import type { RedisConnection } from '../redis/connection.js';
import { RedisPeriodLease } from '../redis/lease.js';
import type { Registry } from '../registry/registry.js';
import { runCleanup, type CleanupReport } from './cleanup.js';
import { TagGuard } from './immutable.js';
import { PolicySet } from './match.js';
import { LocalLease, startSchedule } from './scheduler.js';

export interface LifecycleDeps {
  config: Readonly<Config>;
  registry: Registry;
  access?: AccessPolicy;
  redis?: RedisConnection;
  metrics: Metrics;
  events: Pick<Notifier, 'enabled' | 'write'>;
  log: Logger;
}

export interface Lifecycle {
  policies: PolicySet;
  tagGuard: TagGuard;
  /** Applies a re-read config's `policies`; returns what changed, for the SIGHUP log line. */
  reload(next: Readonly<Config>): string;
  stop(): void;
}

export function recordCleanup(metrics: Metrics, r: CleanupReport): void {
  metrics.cleanupLastRun.set(r.startedAt / 1000);
  metrics.cleanupLastDuration.set(r.durationMs / 1000);
  metrics.cleanupTagsUntagged.inc(r.untagged.length);
  metrics.cleanupManifestsDeleted.inc(r.gc?.manifestsRemoved.length ?? 0);
  metrics.cleanupBlobsDeleted.inc(r.gc?.blobsRemoved.length ?? 0);
  metrics.cleanupBytesFreed.inc(r.gc?.bytesFreed ?? 0);
}

export function cleanupSummary(r: CleanupReport): string {
  const gc = r.gc;
  return `untagged ${r.untagged.length} tags, deleted ${gc?.manifestsRemoved.length ?? 0} manifests and ${gc?.blobsRemoved.length ?? 0} blobs (${gc?.bytesFreed ?? 0} bytes) in ${(r.durationMs / 1000).toFixed(2)} s`;
}

export function createLifecycle(deps: LifecycleDeps): Lifecycle {
  const { config, log, metrics } = deps;
  const policies = new PolicySet(config.policies);
  const tagGuard = new TagGuard({
    policies,
    mayOverwrite: deps.access ? (account, name) => deps.access!.mayOverwrite(account, name) : undefined,
  });
  const schedule = config.gc.schedule;
  let stopSchedule = () => {};
  if (schedule && config.storage.maintenance.readonly.enabled) {
    log.warn('gc.schedule is set but storage.maintenance.readonly is enabled: no scheduled cleanup runs');
  } else if (schedule) {
    const lease = deps.redis
      ? new RedisPeriodLease(deps.redis, schedule.lease, Math.max(2 * schedule.interval, 60_000), log)
      : new LocalLease();
    if (!deps.redis)
      log.info(
        'gc.schedule without redis: this replica runs every period (configure redis when running several replicas)',
      );
    stopSchedule = startSchedule({
      schedule,
      lease,
      log,
      run: async () => {
        try {
          const r = await runCleanup(
            {
              registry: deps.registry,
              policies,
              log,
              events: deps.events,
              onReport: (rep) => recordCleanup(metrics, rep),
            },
            { graceMs: config.gc.graceperiod },
          );
          metrics.cleanupRuns.inc({ outcome: 'ok' });
          return cleanupSummary(r);
        } catch (err) {
          metrics.cleanupRuns.inc({ outcome: 'failed' });
          throw err;
        }
      },
    });
  }
  return {
    policies,
    tagGuard,
    reload(next) {
      policies.replace(next.policies);
      if (JSON.stringify(next.gc.schedule) !== JSON.stringify(config.gc.schedule))
        log.warn('SIGHUP: gc.schedule changed; the new schedule applies after a restart');
      return `policies (${next.policies.length} rule${next.policies.length === 1 ? '' : 's'})`;
    },
    stop: () => stopSchedule(),
  };
}
