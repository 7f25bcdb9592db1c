/**
 * Garbage collection (`wharf garbage-collect`): Distribution's mark and sweep, made safe to run while the
 * registry keeps serving pushes.
 *
 * Mark: every manifest linked in a repository (with `deleteUntagged`: only those a tag reaches, their index
 * children transitively, their referrers, and every manifest whose revision link is younger than the grace
 * period) and every blob those manifests reference. Sweep: every other blob whose data file and repository
 * links are all older than the grace period, plus the `_layers` links to it; then repositories left without
 * manifests are removed from the catalog (Distribution keeps listing them).
 *
 * Safety while pushes continue:
 *  1. Grace: a blob whose data file, or any `_layers` link to it, was written after `start - grace` is never a
 *     candidate; neither is a revision link written after that time. A push in progress writes exactly those.
 *  2. Two phases: candidates are first moved aside (`gc-quarantine` next to `data` or `link`; readers see them
 *     as gone, and the server re-checks storage, not its cache, before accepting a blob upload or a manifest
 *     that references a blob or child), then, after a settle delay, the whole registry is scanned again: a
 *     candidate that a new or re-tagged manifest now references, that has a new `_layers` link, or whose data
 *     was re-uploaded, is put back. Only then are the parked copies deleted. `data` itself is only ever
 *     moved, never deleted, so a re-upload during the run lands in a fresh file GC does not touch.
 *  3. An interrupted run leaves parked copies behind; the next run first puts them back, then decides again.
 *
 * Remaining races, and why they are acceptable:
 *  - A single request whose check and write straddle the whole settle delay: a manifest PUT that saw a
 *    candidate blob (or child) still in place before it was parked, and writes its revision link only after the
 *    second scan. That needs one storage write to stall for longer than `settleMs` (seconds); with the default
 *    grace (1h) it also needs the manifest to reference a blob nobody linked for an hour.
 *  - An old untagged manifest re-pushed by digest (no tag, no subject) in the instant it is parked is removed
 *    with `deleteUntagged`: that is what the policy asks for untagged content; a following index PUT that needs
 *    it fails loudly (MANIFEST_BLOB_UNKNOWN) rather than storing a broken index.
 *  - Removing a directory is list-then-delete (the driver has no "remove if empty"): a writer creating a file in
 *    that directory within the same microseconds could lose it. Only emptied blob, revision and repository
 *    directories are removed, and only after the checks above.
 *  - A running server may keep answering a removed manifest from its in-memory cache until restart; the blobs of
 *    such a manifest answer 404, and no write path trusts that cache.
 */
import type { StorageDriver } from '../storage/driver.js';
import {
  Findings,
  revisionKey,
  type BlobCandidate,
  type GcProgress,
  type LayerLinks,
  type Revision,
  type Snapshot,
} from './gc/model.js';
import { markBlobs, recheckRevisions, revisionsToRemove, type MarkPolicy } from './gc/mark.js';
import { Scanner } from './gc/scan.js';
import { Sweeper, type Removal } from './gc/sweep.js';

export type { GcProgress } from './gc/model.js';
export { allRepositories } from './walk.js';

export const DEFAULT_GRACE_MS = 60 * 60 * 1000;
export const DEFAULT_SETTLE_MS = 3000;
/** Temporary files younger than this are never removed, even with no grace period. */
const TEMPORARY_MIN_AGE_MS = 10 * 60 * 1000;

export interface GcOptions {
  /** Report what would be removed; change nothing. */
  dryRun?: boolean;
  /** Also remove manifests no tag reaches (except index children and referrers of kept manifests). */
  deleteUntagged?: boolean;
  /**
   * Repository -> manifest digests to remove (retention's decision, src/policies): candidates like untagged ones
   * under deleteUntagged, so still kept when a tag, the grace period or a kept manifest reaches them.
   */
  removeManifests?: ReadonlyMap<string, ReadonlySet<string>>;
  /** Content younger than this is never collected (default 1 hour). */
  graceMs?: number;
  /** Wait between parking candidates and the second scan (default 3 s). */
  settleMs?: number;
  /** The run's start time, for tests (default: now). */
  now?: number;
  /** Parallel storage operations (default 32). */
  concurrency?: number;
  progress?: (p: GcProgress) => void;
}

export interface GcReport {
  dryRun: boolean;
  manifestsRemoved: Array<{ repository: string; digest: string }>;
  /** With the repositories whose layer link to the blob was removed (the ones a `delete` event names). */
  blobsRemoved: Array<{ digest: string; size: number; repositories: string[] }>;
  bytesFreed: number;
  layerLinksRemoved: number;
  repositoriesRemoved: string[];
  /** Candidates put back because a push referenced them during the run. */
  restored: number;
  /** Temporary files of writes that never finished, older than the grace period (filesystem driver). */
  temporaryFiles: string[];
  /** Manifests that could not be read (missing or unparseable blob): their references could not be marked. */
  warnings: string[];
  durationMs: number;
}

/** What the first scan decided: the revisions and blobs to remove. */
interface Plan {
  snapshot: Snapshot;
  removals: Array<{ repo: string; rev: Revision }>;
  /** `repo@digest` of `removals`. */
  removedKeys: Set<string>;
  /** Unmarked blobs whose data and links are all older than the grace period. */
  candidates: Map<string, BlobCandidate>;
  links: LayerLinks;
}

class Collector {
  private readonly findings = new Findings();
  private readonly policy: MarkPolicy;
  private readonly scanner: Scanner;
  private readonly sweeper: Sweeper;
  private readonly dryRun: boolean;
  private readonly settleMs: number;

  /** The cutoff for temporary files: the grace period's, and at least TEMPORARY_MIN_AGE_MS before the start. */
  private readonly temporaryCutoff: number;

  constructor(
    private readonly driver: StorageDriver,
    private readonly opts: GcOptions,
    start: number,
  ) {
    const cutoff = start - (opts.graceMs ?? DEFAULT_GRACE_MS);
    const concurrency = opts.concurrency ?? 32;
    const progress = (phase: GcProgress['phase'], done: number, total: number) =>
      opts.progress?.({ phase, done, total });
    this.temporaryCutoff = Math.min(cutoff, start - TEMPORARY_MIN_AGE_MS);
    this.dryRun = opts.dryRun ?? false;
    this.settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
    this.policy = { cutoff, deleteUntagged: opts.deleteUntagged ?? false, removeManifests: opts.removeManifests };
    this.scanner = new Scanner(driver, cutoff, concurrency, this.findings, progress);
    this.sweeper = new Sweeper(driver, cutoff, concurrency, progress);
  }

  private progress(phase: GcProgress['phase'], done: number, total: number): void {
    this.opts.progress?.({ phase, done, total });
  }

  async run(): Promise<GcReport> {
    // Leftovers of interrupted writes: a write takes milliseconds, so one older than the grace period, and at
    // least TEMPORARY_MIN_AGE_MS old, is dead (with --grace 0s alone, a write under way would lose its file: a 500).
    const temporaryFiles = (await this.driver.sweepTemporary?.(new Date(this.temporaryCutoff), this.dryRun)) ?? [];
    const plan = await this.plan();
    if (!plan) return this.removeNothing(temporaryFiles);
    const report = this.dryRun ? await this.preview(plan) : await this.apply(plan);
    return report ? { ...report, temporaryFiles } : this.removeNothing(temporaryFiles);
  }

  /** Scan and mark (a dry run changes nothing; a real one first repairs an interrupted run). Null when blind. */
  private async plan(): Promise<Plan | null> {
    const snapshot = await this.scanner.snapshot(!this.dryRun);
    const removals = revisionsToRemove(snapshot, this.policy, this.findings);
    const removedKeys = new Set(removals.map((r) => revisionKey(r.repo, r.rev.digest.value)));
    const marked = markBlobs(snapshot, removedKeys, this.findings, (p, d, t) => this.progress(p, d, t));
    if (this.findings.blind) return null;
    const blobs = await this.scanner.blobs(!this.dryRun);
    const candidates = await this.scanner.oldBlobs(blobs.filter((d) => !marked.has(d.value)));
    const links = await this.scanner.layerLinksTo(new Set(candidates.keys()));
    for (const [digest, repos] of links) if (repos.some((l) => l.fresh)) candidates.delete(digest);
    return { snapshot, removals, removedKeys, candidates, links };
  }

  /** The dry run's report: what apply() would remove if nothing changed meanwhile. */
  private async preview(plan: Plan): Promise<GcReport> {
    const report = this.emptyReport();
    report.manifestsRemoved = plan.removals.map((r) => ({ repository: r.repo, digest: r.rev.digest.value }));
    for (const c of plan.candidates.values())
      this.addBlob(
        report,
        c,
        (plan.links.get(c.digest.value) ?? []).map((l) => l.repo),
      );
    report.layerLinksRemoved = [...plan.candidates.keys()].reduce((n, d) => n + (plan.links.get(d)?.length ?? 0), 0);
    for (const scan of plan.snapshot.repos) {
      if (scan.hasManifests && (await this.scanner.emptied(scan.name, plan.removedKeys)))
        report.repositoriesRemoved.push(scan.name);
    }
    return sortReport(report);
  }

  /** Park, settle, scan again, put back what a push needs now, delete the rest. Null when the run turned blind. */
  private async apply(plan: Plan): Promise<GcReport | null> {
    const { sweeper, scanner } = this;
    const parked = await sweeper.park(plan.removals, plan.candidates.values());
    // Let requests that checked before the parking finish their writes, then look again.
    if ((plan.removals.length > 0 || parked.size > 0) && this.settleMs > 0)
      await new Promise((r) => setTimeout(r, this.settleMs));
    const rescan = await scanner.snapshot(false);
    const finalRemovals = await this.settleRevisions(plan, rescan);
    const markedNow = markBlobs(
      rescan,
      new Set(finalRemovals.map((r) => revisionKey(r.repo, r.digest.value))),
      this.findings,
      (p, d, t) => this.progress(p, d, t),
    );
    if (this.findings.blind) {
      // Something became unreadable between the scans: put every parked copy back.
      await sweeper.putBackAll(finalRemovals, parked);
      return null;
    }
    const linksNow = await scanner.layerLinksTo(new Set(parked.keys()));
    const toDelete = await sweeper.recheckBlobs(
      parked,
      async (c) =>
        markedNow.has(c.digest.value) ||
        (linksNow.get(c.digest.value)?.some((l) => l.fresh) ?? false) ||
        (await scanner.hasData(c.digest)),
    );
    await sweeper.delete(finalRemovals, toDelete, linksNow);
    const report = this.emptyReport();
    const { tally } = sweeper;
    report.manifestsRemoved = tally.manifestsRemoved;
    for (const b of tally.blobsRemoved) this.addBlob(report, b, b.repositories);
    report.layerLinksRemoved = tally.layerLinksRemoved;
    report.restored = tally.restored;
    // Repositories left without manifests leave the catalog.
    for (const scan of rescan.repos) {
      if (!scan.hasManifests || !(await scanner.emptied(scan.name, new Set()))) continue;
      await sweeper.removeRepository(scan.name);
      report.repositoriesRemoved.push(scan.name);
    }
    return sortReport(report);
  }

  /**
   * The parked revisions after the second scan: reached again ones go back, relinked ones (pushed anew) lose their
   * parked copy; returns those still to remove.
   */
  private async settleRevisions(plan: Plan, rescan: Snapshot): Promise<Removal[]> {
    const { restore, remove } = recheckRevisions(rescan, plan.removedKeys, this.policy, this.findings);
    await this.sweeper.restoreRevisions(restore.map(({ repo, rev }) => ({ repo, digest: rev.digest })));
    const restored = new Set(restore.map((r) => revisionKey(r.repo, r.rev.digest.value)));
    const byName = new Map(rescan.repos.map((s) => [s.name, s]));
    const relinked = plan.removals.filter(({ repo, rev }) => {
      const now = byName.get(repo)?.revisions.get(rev.digest.value);
      return now !== undefined && (!now.parked || restored.has(revisionKey(repo, rev.digest.value)));
    });
    await this.sweeper.dropRelinked(relinked.map(({ repo, rev }) => ({ repo, digest: rev.digest })));
    return remove.map(({ repo, rev }) => ({ repo, digest: rev.digest }));
  }

  /** The report of a blind run (see Findings.blind): nothing removed. */
  private removeNothing(temporaryFiles: string[]): GcReport {
    this.findings.warn('a kept manifest cannot be understood, so what it references is unknown: nothing was removed');
    // Candidates already put back stay counted.
    return { ...this.emptyReport(), temporaryFiles, restored: this.sweeper.tally.restored };
  }

  private emptyReport(): GcReport {
    return {
      dryRun: this.dryRun,
      manifestsRemoved: [],
      blobsRemoved: [],
      bytesFreed: 0,
      layerLinksRemoved: 0,
      repositoriesRemoved: [],
      restored: 0,
      temporaryFiles: [],
      warnings: this.findings.warnings,
      durationMs: 0,
    };
  }

  private addBlob(report: GcReport, c: BlobCandidate, repositories: string[]): void {
    report.blobsRemoved.push({ digest: c.digest.value, size: c.size, repositories: repositories.sort() });
    report.bytesFreed += c.size;
  }
}

function sortReport(r: GcReport): GcReport {
  r.manifestsRemoved.sort((a, b) => (a.repository + a.digest < b.repository + b.digest ? -1 : 1));
  r.blobsRemoved.sort((a, b) => (a.digest < b.digest ? -1 : 1));
  r.repositoriesRemoved.sort();
  return r;
}

/** Runs one garbage collection over `driver`; see the top of this file for what is removed and what is safe. */
export async function garbageCollect(driver: StorageDriver, opts: GcOptions = {}): Promise<GcReport> {
  const t0 = performance.now();
  const report = await new Collector(driver, opts, opts.now ?? Date.now()).run();
  report.durationMs = Math.round(performance.now() - t0);
  return report;
}
