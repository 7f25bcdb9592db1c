/**
 * Mark: pure decisions over a Snapshot (no storage). Which revisions of a repository stay, and which blobs the
 * staying manifests reference. Unit-tested in mark.test.ts without any driver.
 */
import { parseDigest } from '../../oci/names.js';
import { Findings, revisionKey, type ProgressFn, type RepoScan, type Revision, type Snapshot } from './model.js';

export interface MarkPolicy {
  /** Content whose link is at least this recent (ms since the epoch) is young: never removed. */
  cutoff: number;
  /** Also remove manifests no tag reaches (except index children and referrers of kept manifests). */
  deleteUntagged: boolean;
  /** Repository -> manifest digests to remove, as candidates like untagged ones (retention's decision). */
  removeManifests?: ReadonlyMap<string, ReadonlySet<string>>;
}

/**
 * The digests of the repository's revisions that stay. Without deleteUntagged or a removal request: all. Else:
 * those reached by a tag or younger than the grace period (and, for a removal request, those not requested), then
 * (to a fixed point) children of kept indexes and referrers of kept manifests. A kept manifest that does not
 * parse makes the run blind.
 */
export function keptRevisions(scan: RepoScan, snapshot: Snapshot, policy: MarkPolicy, findings: Findings): Set<string> {
  const all = [...scan.revisions.values()];
  const requested = policy.removeManifests?.get(scan.name);
  if (!policy.deleteUntagged && !requested) return new Set(all.map((r) => r.digest.value));
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
  for (const r of all) if (!r.parked && r.modTime >= policy.cutoff) keep(r.digest.value);
  if (!policy.deleteUntagged) for (const r of all) if (!requested!.has(r.digest.value)) keep(r.digest.value);
  const subjects = new Map<string, string[]>();
  for (const r of all) {
    const m = snapshot.manifests.get(r.digest.value);
    const subject = typeof m === 'object' ? m.body.subject?.digest : undefined;
    if (subject) subjects.set(subject, [...(subjects.get(subject) ?? []), r.digest.value]);
  }
  while (queue.length > 0) {
    const d = queue.pop()!;
    for (const referrer of subjects.get(d) ?? []) keep(referrer);
    const m = snapshot.manifests.get(d);
    if (m === 'unparseable') findings.blindBy(d);
    if (typeof m === 'object' && m.kind === 'index') for (const child of m.body.manifests) keep(child.digest);
  }
  return kept;
}

/** Every revision of every repository that does not stay (see keptRevisions). */
export function revisionsToRemove(
  snapshot: Snapshot,
  policy: MarkPolicy,
  findings: Findings,
): Array<{ repo: string; rev: Revision }> {
  const out: Array<{ repo: string; rev: Revision }> = [];
  for (const scan of snapshot.repos) {
    const kept = keptRevisions(scan, snapshot, policy, findings);
    for (const rev of scan.revisions.values()) if (!kept.has(rev.digest.value)) out.push({ repo: scan.name, rev });
  }
  return out;
}

/**
 * Digests of every blob reachable from the repositories' revisions, except the `removed` ones (`repo@digest`):
 * the manifests themselves, their configs and layers (foreign ones, with urls, included, as Distribution marks
 * them), and index children transitively. A reached manifest that cannot be read is warned about; one that
 * does not parse makes the run blind.
 */
export function markBlobs(
  snapshot: Snapshot,
  removed: ReadonlySet<string>,
  findings: Findings,
  progress: ProgressFn = () => {},
): Set<string> {
  const marked = new Set<string>();
  const roots: string[] = [];
  for (const scan of snapshot.repos)
    for (const r of scan.revisions.values())
      if (!removed.has(revisionKey(scan.name, r.digest.value))) roots.push(r.digest.value);
  let done = 0;
  for (const root of roots) {
    const stack = [root];
    while (stack.length > 0) {
      const d = stack.pop()!;
      if (marked.has(d)) continue;
      marked.add(d);
      const m = snapshot.manifests.get(d) ?? 'missing';
      if (m === 'unparseable') findings.blindBy(d);
      else if (m === 'missing')
        findings.warn(`manifest ${d} cannot be read; the blobs it references are not marked by it`);
      else if (m.kind === 'image') for (const desc of [m.body.config, ...m.body.layers]) marked.add(desc.digest);
      else for (const child of m.body.manifests) if (parseDigest(child.digest)) stack.push(child.digest);
    }
    progress('marking', ++done, roots.length);
  }
  return marked;
}

/** What the second scan says of the revisions the first one parked. */
export interface ParkedRevisions {
  /** Parked and now reached again (tagged, referenced): to move back. */
  restore: Array<{ repo: string; rev: Revision }>;
  /** Parked and still not kept: to delete. */
  remove: Array<{ repo: string; rev: Revision }>;
}

/** Splits the parked revisions of `removedKeys` by whether the second scan keeps them. */
export function recheckRevisions(
  rescan: Snapshot,
  removedKeys: ReadonlySet<string>,
  policy: MarkPolicy,
  findings: Findings,
): ParkedRevisions {
  const out: ParkedRevisions = { restore: [], remove: [] };
  for (const scan of rescan.repos) {
    const kept = keptRevisions(scan, rescan, policy, findings);
    for (const rev of scan.revisions.values()) {
      if (!rev.parked || !removedKeys.has(revisionKey(scan.name, rev.digest.value))) continue;
      (kept.has(rev.digest.value) ? out.restore : out.remove).push({ repo: scan.name, rev });
    }
  }
  return out;
}
