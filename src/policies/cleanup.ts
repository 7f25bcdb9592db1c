/**
 * One cleanup run: plan (plan.ts), untag what the rules untag, then garbage collection with the plan's manifests
 * as removal candidates, so that deleting keeps GC's grace period and two-phase safety (src/registry/gc.ts).
 *
 * A tag is only untagged when its link is still the one the plan saw (same digest, same modification time): a
 * push of that tag after the scan wins. The check and the delete are two storage operations; a push landing
 * between them (microseconds) would be lost, the same window Distribution's tag delete has.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventInput, Notifier } from '../notifications/index.js';
import type { GcReport } from '../registry/gc.js';
import type { Registry } from '../registry/registry.js';
import type { PolicySet } from './match.js';
import { makePlan, type Plan } from './plan.js';
import type { TagState } from './retention.js';

export interface CleanupOptions {
  graceMs: number;
  /** GC's wait between parking and re-checking (default: GC's). */
  settleMs?: number;
  /** Plan only; change nothing. */
  dryRun?: boolean;
}

export interface CleanupDeps {
  registry: Registry;
  policies: PolicySet;
  log?: Logger;
  events?: Pick<Notifier, 'enabled' | 'write'>;
  /** Called once per finished (not dry) run, for the metrics. */
  onReport?: (r: CleanupReport) => void;
}

export interface CleanupReport {
  plan: Plan;
  untagged: Array<{ repository: string; tag: string; digest: string }>;
  /** Planned untags skipped because the tag was pushed again (or removed) after the scan. */
  skipped: Array<{ repository: string; tag: string }>;
  /** Null for a dry run. */
  gc: GcReport | null;
  startedAt: number;
  durationMs: number;
}

/** Untags as the plan saw the tag (see TagStore.untagIfUnchanged); cleanup is upkeep: `delete.enabled` does not apply. */
function untagIfUnchanged(registry: Registry, name: string, t: TagState): Promise<boolean> {
  return registry.upkeep.tags.untagIfUnchanged(name, t.tag, t.digest, t.pushedAt);
}

export async function runCleanup(deps: CleanupDeps, opts: CleanupOptions): Promise<CleanupReport> {
  const startedAt = Date.now();
  const t0 = performance.now();
  const { registry, log } = deps;
  // A dry run reports the plan, so it counts every blob the run would free; a real run's GC report is the truth.
  const plan = await makePlan(registry, deps.policies, { graceMs: opts.graceMs, now: startedAt, exact: opts.dryRun });
  const report: CleanupReport = { plan, untagged: [], skipped: [], gc: null, startedAt, durationMs: 0 };
  if (opts.dryRun) {
    report.durationMs = Math.round(performance.now() - t0);
    return report;
  }
  const notify = eventSink(deps.events);
  for (const repo of plan.repositories) {
    for (const t of repo.untag) {
      if (await untagIfUnchanged(registry, repo.repository, t)) {
        report.untagged.push({ repository: repo.repository, tag: t.tag, digest: t.digest });
        log?.info(
          { repository: repo.repository, tag: t.tag, digest: t.digest, rule: repo.rule },
          `cleanup: untagged ${repo.repository}:${t.tag}`,
        );
        notify({ action: 'delete', kind: 'tag', repository: repo.repository, tag: t.tag });
      } else {
        report.skipped.push({ repository: repo.repository, tag: t.tag });
        log?.info(
          { repository: repo.repository, tag: t.tag },
          `cleanup: kept ${repo.repository}:${t.tag}, pushed again since the plan`,
        );
      }
    }
  }
  const removeManifests = new Map(
    plan.repositories.map((r) => [r.repository, new Set(r.deleteManifests.map((m) => m.digest))]),
  );
  const gc = await registry.collectGarbage({ graceMs: opts.graceMs, settleMs: opts.settleMs, removeManifests });
  report.gc = gc;
  for (const m of gc.manifestsRemoved) {
    log?.info({ repository: m.repository, digest: m.digest }, `cleanup: deleted manifest ${m.repository}@${m.digest}`);
    notify({ action: 'delete', kind: 'manifest', repository: m.repository, digest: m.digest });
  }
  // The registry (and, through Redis, every replica) must not answer from its cache what is gone now.
  for (const m of gc.manifestsRemoved) await registry.cache.forgetLink('manifest', m.repository, m.digest);
  for (const b of gc.blobsRemoved) await registry.cache.forgetSize(b.digest);
  const manifestEvents = new Set(gc.manifestsRemoved.map((m) => `${m.repository}@${m.digest}`));
  for (const b of gc.blobsRemoved) {
    log?.info(
      { digest: b.digest, size: b.size, repositories: b.repositories },
      `cleanup: deleted blob ${b.digest} (${b.size} bytes)`,
    );
    // As Distribution's blob delete: one event per repository the blob is gone from. A delete target is only
    // {digest, repository}, so the stored bytes of a manifest whose delete was just sent are not sent again.
    for (const repository of b.repositories) {
      if (!manifestEvents.has(`${repository}@${b.digest}`))
        notify({ action: 'delete', kind: 'blob', repository, digest: b.digest });
    }
  }
  for (const r of gc.repositoriesRemoved) log?.info({ repository: r }, `cleanup: removed empty repository ${r}`);
  for (const w of gc.warnings) log?.warn(`cleanup: ${w}`);
  report.durationMs = Math.round(performance.now() - t0);
  deps.onReport?.(report);
  return report;
}

/** Events of a run: no request behind them, so the request record names the cleanup run and the actor is empty. */
function eventSink(events: CleanupDeps['events']): (e: EventInput) => void {
  const id = randomUUID();
  return (e) => {
    if (!events?.enabled) return;
    events.write(e, { request: { id, method: 'DELETE', useragent: 'wharf-cleanup' }, url: (path) => path });
  };
}
