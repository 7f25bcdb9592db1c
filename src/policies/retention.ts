/**
 * Retention as pure functions over what storage holds (no I/O here): which tags a rule keeps, and then which
 * manifests of the repository stay. Times are milliseconds since the epoch.
 *
 * Manifests: everything reached from a kept root stays, where reaching follows index children, referrers of a
 * manifest (their `subject` is it) and the subject of a referrer. Roots are the manifests of kept tags, manifests
 * younger than the grace period, and manifests that no tag reached before this run (already untagged) unless
 * `deleteuntagged` says they are old enough to go. So a manifest whose tags this run removes goes with them, its
 * index children and referrers too, unless something kept still reaches them.
 *
 * Tags in the referrers tag schema (`sha256-<hex>`, `sha256-<hex>.sig`, ...: cosign and OCI 1.0 clients store
 * signatures and attestations so) are not images of their own: they are kept exactly when the manifest they
 * name stays, and are never counted by `recent`.
 */
import { immutableIn, type CompiledRule } from './match.js';
import { parseDigest } from '../oci/names.js';

export interface TagState {
  tag: string;
  digest: string;
  /** When the tag was last pushed (its link's modification time). */
  pushedAt: number;
}

export interface ManifestNode {
  digest: string;
  /** When the manifest was pushed into the repository (its revision link's modification time). */
  pushedAt: number;
  /** Index children (empty for an image manifest). */
  children: readonly string[];
  subject?: string;
}

export interface TagSelection {
  keep: TagState[];
  untag: TagState[];
}

export interface RepositorySelection extends TagSelection {
  /** Tags the rule untags, kept (in `keep`) this run because their manifest is younger than the grace period. */
  deferred: TagState[];
  /** Digests of the manifests that stay. */
  keptManifests: Set<string>;
  /** Digests of the manifests to delete, sorted. */
  deleteManifests: string[];
}

const REFERRER_TAG = /^([a-z0-9]+)-([0-9a-f]+)(\..+)?$/;

/**
 * The manifest a referrers-schema tag names (`sha256-<hex>.sig` -> `sha256:<hex>`), or null for an ordinary tag.
 * The algorithm and its hex length are those of src/oci/names.ts (sha256, sha384, sha512).
 */
export function referrerTagSubject(tag: string): string | null {
  const m = REFERRER_TAG.exec(tag);
  return m ? (parseDigest(`${m[1]}:${m[2]}`)?.value ?? null) : null;
}

const collator = new Intl.Collator('en', { numeric: true });

/** Newest first; equal times (S3 stores seconds) by tag name, the higher one (`build-10` before `build-9`) first. */
export function byRecency(a: TagState, b: TagState): number {
  return b.pushedAt - a.pushedAt || collator.compare(b.tag, a.tag);
}

/**
 * The tags `rule` keeps (immutable ones always, then every `keep` selector's choice) and the ordinary tags it
 * untags. Referrer-schema tags are in neither list: selectRepository decides them. A rule without `keep` keeps all.
 */
export function selectTags(rule: CompiledRule, tags: readonly TagState[], now: number): TagSelection {
  const ordinary = tags.filter((t) => referrerTagSubject(t.tag) === null);
  if (!rule.keep) return { keep: [...ordinary].sort(byRecency), untag: [] };
  const kept = new Set<string>();
  for (const t of ordinary) if (immutableIn(rule, t.tag)) kept.add(t.tag);
  for (const sel of rule.keep) {
    const candidates = ordinary
      .filter((t) => sel.tags === null || sel.tags.some((re) => re.test(t.tag)))
      .sort(byRecency);
    if (sel.recent === undefined && sel.pushedWithinMs === undefined) {
      for (const t of candidates) kept.add(t.tag);
      continue;
    }
    candidates.forEach((t, i) => {
      if (
        (sel.recent !== undefined && i < sel.recent) ||
        (sel.pushedWithinMs !== undefined && t.pushedAt >= now - sel.pushedWithinMs)
      )
        kept.add(t.tag);
    });
  }
  const sorted = [...ordinary].sort(byRecency);
  return { keep: sorted.filter((t) => kept.has(t.tag)), untag: sorted.filter((t) => !kept.has(t.tag)) };
}

/** Every manifest of `nodes` reached from `seeds` through index children, referrers and subjects. */
export function reach(
  seeds: Iterable<string>,
  nodes: ReadonlyMap<string, ManifestNode>,
  referrers: ReadonlyMap<string, readonly string[]>,
): Set<string> {
  const out = new Set<string>();
  const queue: string[] = [];
  const add = (d: string | undefined) => {
    if (d !== undefined && nodes.has(d) && !out.has(d)) {
      out.add(d);
      queue.push(d);
    }
  };
  for (const s of seeds) add(s);
  while (queue.length > 0) {
    const d = queue.pop()!;
    const n = nodes.get(d)!;
    for (const c of n.children) add(c);
    for (const r of referrers.get(d) ?? []) add(r);
    add(n.subject);
  }
  return out;
}

/** subject digest -> digests of the manifests naming it as their subject. */
export function referrersOf(nodes: ReadonlyMap<string, ManifestNode>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const n of nodes.values()) if (n.subject) out.set(n.subject, [...(out.get(n.subject) ?? []), n.digest]);
  return out;
}

/**
 * The whole decision for one repository: tags to untag and manifests to delete. `graceMs` protects manifests
 * pushed within it whatever the rule says (garbage collection would keep them anyway).
 */
export function selectRepository(
  rule: CompiledRule,
  tags: readonly TagState[],
  manifests: readonly ManifestNode[],
  now: number,
  graceMs: number,
): RepositorySelection {
  const nodes = new Map(manifests.map((m) => [m.digest, m]));
  const refs = referrersOf(nodes);
  const { keep, untag } = selectTags(rule, tags, now);
  const reachedBefore = reach(
    tags.map((t) => t.digest),
    nodes,
    refs,
  );
  const roots = new Set(keep.map((t) => t.digest));
  const young = new Set<string>();
  for (const m of manifests) {
    if (m.pushedAt >= now - graceMs) young.add(m.digest);
    const oldEnough = rule.deleteUntaggedMs !== undefined && m.pushedAt < now - rule.deleteUntaggedMs;
    if (!reachedBefore.has(m.digest) && !oldEnough) roots.add(m.digest);
  }
  const followers = tags.filter((t) => referrerTagSubject(t.tag) !== null);
  const graced = closure(new Set([...roots, ...young]), followers, nodes, refs);
  let kept = graced.kept;
  const keptFollowers = graced.keptFollowers;
  // An untagged tag whose manifest stays anyway (another kept tag, an index) is still untagged: the rule said so.
  let keepTags = [...keep, ...followers.filter((t) => keptFollowers.has(t.tag))];
  let untagTags = [...untag, ...followers.filter((t) => !keptFollowers.has(t.tag))];
  // But a tag whose manifest stays only because it is younger than the grace period waits for a later run:
  // untagged now, the manifest would be "already untagged" then, and stay for good without `deleteuntagged`.
  const withoutGrace = closure(roots, followers, nodes, refs).kept;
  const deferred = untagTags.filter((t) => kept.has(t.digest) && !withoutGrace.has(t.digest));
  keepTags.push(...deferred);
  untagTags = untagTags.filter((t) => !deferred.includes(t));
  if (!rule.keep) {
    // Without keep no tag is removed, referrer-schema ones included.
    keepTags = [...keepTags, ...untagTags];
    untagTags = [];
    for (const t of keepTags) roots.add(t.digest);
    kept = closure(new Set([...roots, ...young]), followers, nodes, refs).kept;
  }
  keepTags.sort(byRecency);
  untagTags.sort(byRecency);
  const deleteManifests = manifests
    .map((m) => m.digest)
    .filter((d) => !kept.has(d))
    .sort();
  return {
    keep: keepTags,
    untag: untagTags,
    deferred: rule.keep ? deferred.sort(byRecency) : [],
    keptManifests: kept,
    deleteManifests,
  };
}

/**
 * What stays when `roots` do: everything they reach, and referrer-schema tags follow the manifest they name, so
 * what such a tag points at stays too (to a fixed point).
 */
function closure(
  roots: Set<string>,
  followers: readonly TagState[],
  nodes: ReadonlyMap<string, ManifestNode>,
  refs: ReadonlyMap<string, readonly string[]>,
): { kept: Set<string>; keptFollowers: Set<string> } {
  const seeds = new Set(roots);
  let kept = reach(seeds, nodes, refs);
  const keptFollowers = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const t of followers) {
      if (keptFollowers.has(t.tag) || !kept.has(referrerTagSubject(t.tag)!)) continue;
      keptFollowers.add(t.tag);
      if (!kept.has(t.digest)) {
        seeds.add(t.digest);
        changed = true;
      }
    }
    if (changed) kept = reach(seeds, nodes, refs);
  }
  return { kept, keptFollowers };
}
