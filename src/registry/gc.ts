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
import { parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { isSupportedAlgorithm, parseDigest, type Digest } from '../oci/names.js';
import { isNotFound, type StorageDriver } from '../storage/driver.js';
import { mapLimit } from '../storage/maplimit.js';
import {
  basename,
  BLOBS,
  blobAlgorithmDir,
  blobData,
  blobDir,
  blobQuarantine,
  layerLink,
  layerLinkDir,
  layersAlgorithmDir,
  layersDir,
  manifestsDir,
  repoDir,
  REPOSITORIES,
  revisionDir,
  revisionLink,
  revisionQuarantine,
  revisionsDir,
  revisionsRoot,
  tagCurrentLink,
  tagsDir,
  uploadData,
  uploadsDir,
} from './paths.js';

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

export interface GcProgress {
  phase: 'scanning' | 'marking' | 'sweeping' | 'rechecking' | 'deleting';
  done: number;
  total: number;
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

interface Revision {
  digest: Digest;
  modTime: number;
  /** Parked by an earlier phase (or an interrupted run); no `link` file. */
  parked: boolean;
}

interface RepoScan {
  name: string;
  revisions: Map<string, Revision>;
  /** tag -> digest value of its current link. */
  tags: Map<string, string>;
  /** Whether `_manifests` existed (some drivers have no empty directories). */
  hasManifests: boolean;
}

async function listOrEmpty(driver: StorageDriver, path: string): Promise<string[]> {
  try {
    return await driver.list(path);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

async function statOrNull(driver: StorageDriver, path: string) {
  try {
    return await driver.stat(path);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

async function ignoreNotFound(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** Deletes `path` when it is an empty directory (or already gone); see the directory race at the top. */
async function removeIfEmpty(driver: StorageDriver, path: string): Promise<boolean> {
  const st = await statOrNull(driver, path);
  if (!st) return true;
  if (!st.isDir || (await listOrEmpty(driver, path)).length > 0) return false;
  await ignoreNotFound(driver.delete(path));
  return true;
}

/** Every repository directory (one holding `_manifests`, `_layers` or `_uploads`), with or without manifests. */
export async function allRepositories(driver: StorageDriver): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, prefix: string): Promise<void> {
    const names = (await listOrEmpty(driver, dir)).map(basename);
    if (prefix !== '' && names.some((n) => n.startsWith('_'))) out.push(prefix);
    await Promise.all(names.filter((n) => !n.startsWith('_')).map((n) => walk(`${dir}/${n}`, prefix === '' ? n : `${prefix}/${n}`)));
  }
  await walk(REPOSITORIES, '');
  return out.sort();
}

class Collector {
  private readonly driver: StorageDriver;
  private readonly opts: Required<Omit<GcOptions, 'progress' | 'now' | 'removeManifests'>> & Pick<GcOptions, 'progress' | 'removeManifests'>;
  private readonly cutoff: number;
  /** Parsed manifests by digest (content-addressed, so never stale); null when unreadable. */
  private readonly manifests = new Map<string, ParsedManifest | null>();
  /** Digests whose blob exists but does not parse as a manifest. */
  private readonly unparseable = new Set<string>();
  private readonly report: GcReport;
  /**
   * Set when a kept manifest exists but cannot be understood (unparseable, or under a digest algorithm wharf does
   * not support): what it references is unknown, so this run removes no blob at all.
   */
  private blind = false;

  constructor(driver: StorageDriver, opts: GcOptions, start: number) {
    this.driver = driver;
    this.opts = {
      dryRun: opts.dryRun ?? false,
      deleteUntagged: opts.deleteUntagged ?? false,
      graceMs: opts.graceMs ?? DEFAULT_GRACE_MS,
      settleMs: opts.settleMs ?? DEFAULT_SETTLE_MS,
      concurrency: opts.concurrency ?? 32,
      progress: opts.progress,
      removeManifests: opts.removeManifests,
    };
    this.cutoff = start - this.opts.graceMs;
    this.report = { dryRun: this.opts.dryRun, manifestsRemoved: [], blobsRemoved: [], bytesFreed: 0, layerLinksRemoved: 0, repositoriesRemoved: [], restored: 0, temporaryFiles: [], warnings: [], durationMs: 0 };
  }

  private progress(phase: GcProgress['phase'], done: number, total: number): void {
    this.opts.progress?.({ phase, done, total });
  }

  private map<T, R>(items: readonly T[], fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
    return mapLimit(items, this.opts.concurrency, fn);
  }

  async run(): Promise<GcReport> {
    const { dryRun } = this.opts;
    // 0. Leftovers of interrupted writes: a write takes milliseconds, so one older than the grace period, and at
    // least TEMPORARY_MIN_AGE_MS old, is dead (with --grace 0s alone, a write under way would lose its file: a 500).
    const start = this.cutoff + this.opts.graceMs;
    const temporaryCutoff = Math.min(this.cutoff, start - TEMPORARY_MIN_AGE_MS);
    this.report.temporaryFiles = (await this.driver.sweepTemporary?.(new Date(temporaryCutoff), dryRun)) ?? [];

    // 1. Scan and decide which manifests stay.
    const scans = await this.scanAll(!dryRun);
    const removals: Array<{ repo: string; rev: Revision }> = [];
    for (const scan of scans) {
      const kept = await this.keptRevisions(scan);
      for (const rev of scan.revisions.values()) if (!kept.has(rev.digest.value)) removals.push({ repo: scan.name, rev });
    }
    const removedKeys = new Set(removals.map((r) => `${r.repo}@${r.rev.digest.value}`));

    // 2. Mark.
    const marked = await this.mark(scans, removedKeys);
    if (this.blind) return this.removeNothing();

    // 3. Candidates: unmarked blobs whose data and links are all older than the grace period.
    const blobs = await this.listBlobs(!dryRun);
    const unmarked = blobs.filter((d) => !marked.has(d.value));
    const candidates = new Map<string, { digest: Digest; size: number }>();
    let swept = 0;
    await this.map(unmarked, async (d) => {
      const st = await statOrNull(this.driver, blobData(d));
      this.progress('sweeping', ++swept, unmarked.length);
      if (st && !st.isDir && st.modTime.getTime() < this.cutoff) candidates.set(d.value, { digest: d, size: st.size });
    });
    const links = await this.layerLinksTo(new Set(candidates.keys()));
    for (const [digest, repos] of links) if (repos.some((l) => l.fresh)) candidates.delete(digest);

    if (dryRun) {
      this.report.manifestsRemoved = removals.map((r) => ({ repository: r.repo, digest: r.rev.digest.value }));
      for (const c of candidates.values()) this.addBlob(c.digest, c.size, (links.get(c.digest.value) ?? []).map((l) => l.repo));
      this.report.layerLinksRemoved = [...candidates.keys()].reduce((n, d) => n + (links.get(d)?.length ?? 0), 0);
      for (const scan of scans) if (scan.hasManifests && (await this.emptied(scan.name, removedKeys))) this.report.repositoriesRemoved.push(scan.name);
      this.sortReport();
      return this.report;
    }

    // 4. Park every candidate.
    await this.map(removals, async ({ repo, rev }) => {
      if (!rev.parked) await ignoreNotFound(this.driver.move(revisionLink(repo, rev.digest), revisionQuarantine(repo, rev.digest)));
    });
    const parked = new Map<string, { digest: Digest; size: number }>();
    await this.map([...candidates.values()], async (c) => {
      try {
        await this.driver.move(blobData(c.digest), blobQuarantine(c.digest));
        parked.set(c.digest.value, c);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    });

    // 5. Let requests that checked before the parking finish their writes, then look again.
    if ((removals.length > 0 || parked.size > 0) && this.opts.settleMs > 0) await new Promise((r) => setTimeout(r, this.opts.settleMs));
    this.manifests.clear();
    const rescans = await this.scanAll(false);
    const finalRemovals: Array<{ repo: string; digest: Digest }> = [];
    const byName = new Map(rescans.map((s) => [s.name, s]));
    for (const scan of rescans) {
      const kept = await this.keptRevisions(scan);
      for (const rev of scan.revisions.values()) {
        if (!rev.parked || !removedKeys.has(`${scan.name}@${rev.digest.value}`)) continue;
        if (kept.has(rev.digest.value)) {
          await this.unpark(revisionQuarantine(scan.name, rev.digest), revisionLink(scan.name, rev.digest));
          rev.parked = false;
          this.report.restored++;
        } else {
          finalRemovals.push({ repo: scan.name, digest: rev.digest });
        }
      }
    }
    // A parked revision linked again meanwhile (pushed anew): the new link wins, the parked copy goes.
    for (const { repo, rev } of removals) {
      const now = byName.get(repo)?.revisions.get(rev.digest.value);
      if (now && !now.parked) {
        await ignoreNotFound(this.driver.delete(revisionQuarantine(repo, rev.digest)));
        this.report.restored++;
      }
    }
    const markedNow = await this.mark(rescans, new Set(finalRemovals.map((r) => `${r.repo}@${r.digest.value}`)));
    if (this.blind) {
      // Something became unreadable between the scans: put every parked copy back.
      for (const { repo, digest } of finalRemovals) await this.unpark(revisionQuarantine(repo, digest), revisionLink(repo, digest));
      for (const c of parked.values()) await this.unpark(blobQuarantine(c.digest), blobData(c.digest));
      return this.removeNothing();
    }
    const linksNow = await this.layerLinksTo(new Set(parked.keys()));
    const toDelete: Array<{ digest: Digest; size: number }> = [];
    let checked = 0;
    await this.map([...parked.values()], async (c) => {
      this.progress('rechecking', ++checked, parked.size);
      const fresh = linksNow.get(c.digest.value)?.some((l) => l.fresh) ?? false;
      const reuploaded = (await statOrNull(this.driver, blobData(c.digest))) !== null;
      if (markedNow.has(c.digest.value) || fresh || reuploaded) {
        await this.unpark(blobQuarantine(c.digest), blobData(c.digest));
        this.report.restored++;
      } else {
        toDelete.push(c);
      }
    });

    // 6. Delete what is still unreferenced.
    let deleted = 0;
    const total = finalRemovals.length + toDelete.length;
    await this.map(finalRemovals, async ({ repo, digest }) => {
      await ignoreNotFound(this.driver.delete(revisionQuarantine(repo, digest)));
      await removeIfEmpty(this.driver, revisionDir(repo, digest));
      this.report.manifestsRemoved.push({ repository: repo, digest: digest.value });
      this.progress('deleting', ++deleted, total);
    });
    await this.map(toDelete, async (c) => {
      await ignoreNotFound(this.driver.delete(blobQuarantine(c.digest)));
      await removeIfEmpty(this.driver, blobDir(c.digest));
      const unlinked: string[] = [];
      for (const l of linksNow.get(c.digest.value) ?? []) {
        // Checked again just before: a link written since the second scan belongs to a new upload.
        const st = await statOrNull(this.driver, layerLink(l.repo, c.digest));
        if (st && st.modTime.getTime() < this.cutoff) {
          await ignoreNotFound(this.driver.delete(layerLinkDir(l.repo, c.digest)));
          this.report.layerLinksRemoved++;
          unlinked.push(l.repo);
        }
      }
      this.addBlob(c.digest, c.size, unlinked);
      this.progress('deleting', ++deleted, total);
    });

    // 7. Repositories left without manifests leave the catalog.
    for (const scan of rescans) {
      if (!scan.hasManifests || !(await this.emptied(scan.name, new Set()))) continue;
      await this.removeRepository(scan.name);
      this.report.repositoriesRemoved.push(scan.name);
    }
    this.sortReport();
    return this.report;
  }

  /** The report of a blind run (see `blind`): nothing removed. */
  private removeNothing(): GcReport {
    this.warn('a kept manifest cannot be understood, so what it references is unknown: nothing was removed');
    this.report.manifestsRemoved = [];
    this.report.blobsRemoved = [];
    this.report.bytesFreed = 0;
    this.report.layerLinksRemoved = 0;
    this.report.repositoriesRemoved = [];
    return this.report;
  }

  private addBlob(d: Digest, size: number, repositories: string[]): void {
    this.report.blobsRemoved.push({ digest: d.value, size, repositories: repositories.sort() });
    this.report.bytesFreed += size;
  }

  private sortReport(): void {
    const r = this.report;
    r.manifestsRemoved.sort((a, b) => (a.repository + a.digest < b.repository + b.digest ? -1 : 1));
    r.blobsRemoved.sort((a, b) => (a.digest < b.digest ? -1 : 1));
    r.repositoriesRemoved.sort();
  }

  /** Moves a parked file back, unless the original was written again meanwhile (then the copy is dropped). */
  private async unpark(from: string, to: string): Promise<void> {
    if (await statOrNull(this.driver, to)) await ignoreNotFound(this.driver.delete(from));
    else await ignoreNotFound(this.driver.move(from, to));
  }

  /**
   * The digest algorithms whose directories `dir` holds (`blobs/`, `_manifests/revisions/`, `_layers/`), whatever
   * wrote them. One wharf cannot verify is reported; manifests under it make the run blind (see `blind`).
   */
  private async algorithms(dir: string, kind: 'blobs' | 'revisions' | 'layers'): Promise<string[]> {
    const out: string[] = [];
    for (const entry of await listOrEmpty(this.driver, dir)) {
      const name = basename(entry);
      if (isSupportedAlgorithm(name)) out.push(name);
      else if (kind === 'revisions' && (await listOrEmpty(this.driver, entry)).length > 0) {
        this.blind = true;
        this.warn(`${entry} holds manifests of an unsupported digest algorithm; no blob is removed`);
      }
    }
    return out;
  }

  private blindBy(digest: string): void {
    this.blind = true;
    this.warn(`manifest ${digest} is kept but does not parse`);
  }

  private warn(message: string): void {
    if (!this.report.warnings.includes(message)) this.report.warnings.push(message);
  }

  private async scanAll(recover: boolean): Promise<RepoScan[]> {
    const names = await allRepositories(this.driver);
    let done = 0;
    return this.map(names, async (name) => {
      const scan = await this.scanRepo(name, recover);
      this.progress('scanning', ++done, names.length);
      return scan;
    });
  }

  /** Revisions (with their link's age) and tags of one repository. `recover` puts back leftovers of an interrupted run. */
  private async scanRepo(name: string, recover: boolean): Promise<RepoScan> {
    const revisions = new Map<string, Revision>();
    for (const algorithm of await this.algorithms(revisionsRoot(name), 'revisions')) {
      const entries = await listOrEmpty(this.driver, revisionsDir(name, algorithm));
      await this.map(entries, async (e) => {
        const digest = parseDigest(`${algorithm}:${basename(e)}`);
        if (!digest) return;
        let st = await statOrNull(this.driver, revisionLink(name, digest));
        let parked = false;
        if (!st) {
          const q = await statOrNull(this.driver, revisionQuarantine(name, digest));
          if (!q) return;
          if (recover) {
            await this.unpark(revisionQuarantine(name, digest), revisionLink(name, digest));
            st = await statOrNull(this.driver, revisionLink(name, digest));
          }
          if (!st) {
            st = q;
            parked = true;
          }
        }
        revisions.set(digest.value, { digest, modTime: st.modTime.getTime(), parked });
      });
    }
    const tags = new Map<string, string>();
    const tagNames = (await listOrEmpty(this.driver, tagsDir(name))).map(basename);
    await this.map(tagNames, async (tag) => {
      try {
        const d = parseDigest((await this.driver.getContent(tagCurrentLink(name, tag))).toString('utf8').trim());
        if (d) tags.set(tag, d.value);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    });
    const hasManifests = revisions.size > 0 || tags.size > 0 || (await statOrNull(this.driver, manifestsDir(name))) !== null;
    return { name, revisions, tags, hasManifests };
  }

  /** The manifest stored under `d`, read from the blob store or from its parked copy; null when unreadable. */
  private async load(d: Digest): Promise<ParsedManifest | null> {
    if (this.manifests.has(d.value)) return this.manifests.get(d.value)!;
    let parsed: ParsedManifest | null = null;
    for (const path of [blobData(d), blobQuarantine(d)]) {
      try {
        parsed = parseManifest(await this.driver.getContent(path), undefined);
        break;
      } catch (err) {
        if (isNotFound(err)) continue;
        this.unparseable.add(d.value);
        break;
      }
    }
    this.manifests.set(d.value, parsed);
    return parsed;
  }

  /**
   * The digests of the repository's revisions that stay. Without deleteUntagged: all. With it: those reached by a
   * tag or younger than the grace period, then (to a fixed point) children of kept indexes and referrers of kept
   * manifests.
   */
  private async keptRevisions(scan: RepoScan): Promise<Set<string>> {
    const all = [...scan.revisions.values()];
    const requested = this.opts.removeManifests?.get(scan.name);
    if (!this.opts.deleteUntagged && !requested) return new Set(all.map((r) => r.digest.value));
    const kept = new Set<string>();
    const queue: string[] = [];
    const keep = (d: string) => {
      if (!kept.has(d)) {
        kept.add(d);
        queue.push(d);
      }
    };
    for (const d of scan.tags.values()) keep(d);
    // A parked link's time says when it was parked (drivers differ on whether a move keeps it): not young.
    for (const r of all) if (!r.parked && r.modTime >= this.cutoff) keep(r.digest.value);
    if (!this.opts.deleteUntagged) for (const r of all) if (!requested!.has(r.digest.value)) keep(r.digest.value);
    const subjects = new Map<string, string[]>();
    await this.map(all, async (r) => {
      const m = await this.load(r.digest);
      const subject = m?.body.subject?.digest;
      if (subject) subjects.set(subject, [...(subjects.get(subject) ?? []), r.digest.value]);
    });
    while (queue.length > 0) {
      const d = queue.pop()!;
      for (const referrer of subjects.get(d) ?? []) keep(referrer);
      const digest = parseDigest(d);
      const m = digest ? await this.load(digest) : null;
      if (this.unparseable.has(d)) this.blindBy(d);
      if (m?.kind === 'index') for (const child of m.body.manifests) keep(child.digest);
    }
    return kept;
  }

  /** Digests of every blob reachable from the repositories' revisions, except the `removed` ones (`repo@digest`). */
  private async mark(scans: RepoScan[], removed: Set<string>): Promise<Set<string>> {
    const marked = new Set<string>();
    const roots: Digest[] = [];
    for (const scan of scans) for (const r of scan.revisions.values()) if (!removed.has(`${scan.name}@${r.digest.value}`)) roots.push(r.digest);
    let done = 0;
    const visit = async (d: Digest): Promise<void> => {
      if (marked.has(d.value)) return;
      marked.add(d.value);
      const m = await this.load(d);
      if (!m) {
        if (this.unparseable.has(d.value)) this.blindBy(d.value);
        else this.warn(`manifest ${d.value} cannot be read; the blobs it references are not marked by it`);
        return;
      }
      // All layers, foreign ones (with urls) included, as Distribution marks them.
      if (m.kind === 'image') for (const desc of [m.body.config, ...m.body.layers]) marked.add(desc.digest);
      else {
        for (const child of m.body.manifests) {
          const c = parseDigest(child.digest);
          if (c) await visit(c);
        }
      }
    };
    await this.map(roots, async (d) => {
      await visit(d);
      this.progress('marking', ++done, roots.length);
    });
    return marked;
  }

  /** Every blob in the global store (with or without data). `recover` puts back blobs parked by an interrupted run. */
  private async listBlobs(recover: boolean): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const algorithm of await this.algorithms(BLOBS, 'blobs')) {
      const prefixes = await listOrEmpty(this.driver, blobAlgorithmDir(algorithm));
      const dirs = (await this.map(prefixes, (p) => listOrEmpty(this.driver, p))).flat();
      await this.map(dirs, async (dir) => {
        const d = parseDigest(`${algorithm}:${basename(dir)}`);
        if (!d) return;
        if (recover && (await statOrNull(this.driver, blobQuarantine(d)))) await this.unpark(blobQuarantine(d), blobData(d));
        out.push(d);
      });
    }
    return out;
  }

  /** For each digest in `digests`, the repositories linking it in `_layers`, and whether that link is younger than the grace period. */
  private async layerLinksTo(digests: Set<string>): Promise<Map<string, Array<{ repo: string; fresh: boolean }>>> {
    const out = new Map<string, Array<{ repo: string; fresh: boolean }>>();
    if (digests.size === 0) return out;
    const repos = await allRepositories(this.driver);
    await this.map(repos, async (repo) => {
      for (const algorithm of await this.algorithms(layersDir(repo), 'layers')) {
        const entries = await listOrEmpty(this.driver, layersAlgorithmDir(repo, algorithm));
        for (const e of entries) {
          const d = parseDigest(`${algorithm}:${basename(e)}`);
          if (!d || !digests.has(d.value)) continue;
          const st = await statOrNull(this.driver, layerLink(repo, d));
          if (!st) continue;
          const list = out.get(d.value) ?? [];
          list.push({ repo, fresh: st.modTime.getTime() >= this.cutoff });
          out.set(d.value, list);
        }
      }
    });
    return out;
  }

  /**
   * Whether the repository (which had `_manifests`) has no revision left, ignoring the `ignoring` ones
   * (`repo@digest`, for dry runs), and no sign of a push in progress: a young `_layers` link or upload.
   */
  private async emptied(name: string, ignoring: Set<string>): Promise<boolean> {
    for (const algorithm of await this.algorithms(revisionsRoot(name), 'revisions')) {
      for (const e of await listOrEmpty(this.driver, revisionsDir(name, algorithm))) {
        const d = parseDigest(`${algorithm}:${basename(e)}`);
        if (!d || ignoring.has(`${name}@${d.value}`)) continue;
        if ((await listOrEmpty(this.driver, revisionDir(name, d))).length > 0) return false;
      }
    }
    for (const upload of await listOrEmpty(this.driver, uploadsDir(name))) {
      const st = await statOrNull(this.driver, uploadData(name, basename(upload)));
      if (!st || st.modTime.getTime() >= this.cutoff) return false;
    }
    for (const algorithm of await this.algorithms(layersDir(name), 'layers')) {
      for (const e of await listOrEmpty(this.driver, layersAlgorithmDir(name, algorithm))) {
        const d = parseDigest(`${algorithm}:${basename(e)}`);
        const st = d ? await statOrNull(this.driver, layerLink(name, d)) : null;
        if (st && st.modTime.getTime() >= this.cutoff) return false;
      }
    }
    return true;
  }

  /** Removes `_manifests`, `_layers` and an empty `_uploads`, then the directory and its parents while empty (old uploads stay for purging). */
  private async removeRepository(name: string): Promise<void> {
    await ignoreNotFound(this.driver.delete(manifestsDir(name)));
    await ignoreNotFound(this.driver.delete(layersDir(name)));
    await removeIfEmpty(this.driver, uploadsDir(name));
    let path = name;
    while (path !== '' && (await removeIfEmpty(this.driver, repoDir(path)))) path = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  }
}

/** Runs one garbage collection over `driver`; see the top of this file for what is removed and what is safe. */
export async function garbageCollect(driver: StorageDriver, opts: GcOptions = {}): Promise<GcReport> {
  const t0 = performance.now();
  const report = await new Collector(driver, opts, opts.now ?? Date.now()).run();
  report.durationMs = Math.round(performance.now() - t0);
  return report;
}
