/**
 * The plan of a cleanup: for every repository a rule governs, the tags it untags and the manifests it deletes,
 * and the blobs that then no kept manifest of any repository references, with the bytes they free. Computed from
 * one scan of storage; `wharf policies plan`, the UI and a real run all use it, so the preview is what runs.
 *
 * Blobs follow garbage collection's rules: a blob is freed when no manifest that stays (in any repository)
 * references it and its data is older than the grace period. With `exact`, blobs that nothing referenced before
 * the run are counted too (a dry run of garbage collection finds them). A blob linked anew into some
 * repository during the run is kept by GC even so; the plan cannot see that and is then a little larger.
 */
import { parseDigest } from '../oci/names.js';
import type { Registry } from '../registry/registry.js';
import type { PolicySet } from './match.js';
import { reach, referrersOf, selectRepository, type TagState } from './retention.js';
import { mapLimit } from '../storage/maplimit.js';
import { scanRegistry, type RepositoryState, type ScannedManifest } from './scan.js';

export interface RepositoryPlan {
  repository: string;
  /** Index of the governing rule in `policies`. */
  rule: number;
  keep: TagState[];
  untag: TagState[];
  /** Tags the rule untags that wait (kept, in `keep`) until their manifest is older than the grace period. */
  deferred: TagState[];
  deleteManifests: Array<{ digest: string; pushedAt: number }>;
}

export interface Plan {
  now: number;
  graceMs: number;
  /** Repositories a rule governs, in catalog order (also those where nothing changes). */
  repositories: RepositoryPlan[];
  /** Blobs no kept manifest references any more, sorted by digest. */
  blobs: Array<{ digest: string; size: number }>;
  bytesFreed: number;
}

interface Decisions {
  repositories: RepositoryPlan[];
  /** Blob digests that become unreferenced. */
  candidates: Set<string>;
}

/** The pure part: who keeps what, from the scanned state. */
export function decide(
  states: readonly RepositoryState[],
  policies: PolicySet,
  now: number,
  graceMs: number,
): Decisions {
  const repositories: RepositoryPlan[] = [];
  const keptBlobs = new Set<string>();
  const goneBlobs = new Set<string>();
  for (const state of states) {
    const rule = policies.ruleFor(state.name);
    const byDigest = new Map(state.manifests.map((m) => [m.digest, m]));
    if (!rule) {
      for (const m of state.manifests) for (const b of m.blobs) keptBlobs.add(b.digest);
      continue;
    }
    const sel = selectRepository(rule, state.tags, state.manifests, now, graceMs);
    for (const d of sel.keptManifests) for (const b of byDigest.get(d)!.blobs) keptBlobs.add(b.digest);
    for (const d of sel.deleteManifests) for (const b of byDigest.get(d)!.blobs) goneBlobs.add(b.digest);
    repositories.push({
      repository: state.name,
      rule: rule.index,
      keep: sel.keep,
      untag: sel.untag,
      deferred: sel.deferred,
      deleteManifests: sel.deleteManifests.map((d) => ({ digest: d, pushedAt: byDigest.get(d)!.pushedAt })),
    });
  }
  const candidates = new Set([...goneBlobs].filter((b) => !keptBlobs.has(b)));
  return { repositories, candidates };
}

/** Size of a blob whose data is older than `cutoff`, or null (missing, or too young for GC to take). */
async function oldBlobSize(registry: Registry, digest: string, cutoff: number): Promise<number | null> {
  const d = parseDigest(digest);
  if (!d) return null;
  const st = await registry.blobs.stored(d);
  return st && st.modTime.getTime() < cutoff ? st.size : null;
}

export interface PlanOptions {
  graceMs: number;
  now?: number;
  /** A scan already made (the UI reuses one for several questions). */
  states?: RepositoryState[];
  /**
   * Also the blobs no manifest referenced before the run (found by a dry run of garbage collection), which the
   * run frees too. Costs a walk of every blob; without it, only the blobs of the manifests the plan deletes are
   * counted (what the UI shows per repository).
   */
  exact?: boolean;
}

export async function makePlan(registry: Registry, policies: PolicySet, opts: PlanOptions): Promise<Plan> {
  const now = opts.now ?? Date.now();
  const states = opts.states ?? (await scanRegistry(registry));
  const { repositories, candidates } = decide(states, policies, now, opts.graceMs);
  const sized = await mapLimit([...candidates].sort(), 16, async (digest) => ({
    digest,
    size: await oldBlobSize(registry, digest, now - opts.graceMs),
  }));
  const blobs = sized.filter((b): b is { digest: string; size: number } => b.size !== null);
  if (opts.exact) {
    // What garbage collection frees with nothing untagged or deleted: the blobs nothing references already.
    const dry = await registry.collectGarbage({ dryRun: true, graceMs: opts.graceMs, now });
    const planned = new Set(blobs.map((b) => b.digest));
    for (const b of dry.blobsRemoved) if (!planned.has(b.digest)) blobs.push({ digest: b.digest, size: b.size });
    blobs.sort((a, b) => (a.digest < b.digest ? -1 : 1));
  }
  return { now, graceMs: opts.graceMs, repositories, blobs, bytesFreed: blobs.reduce((n, b) => n + b.size, 0) };
}

/**
 * For each tag of repository `name`: the bytes that only it holds, i.e. that deleting this tag (and then its
 * manifest, index children and referrers that nothing else reaches) would free. 0 when another tag points at the
 * same manifest. Blob sizes come from the manifests' descriptors (no storage reads); untagged manifests that
 * nothing tagged reaches count as holding their own blobs, so they lower no tag's share.
 */
export function tagFootprints(states: readonly RepositoryState[], name: string): Map<string, number> {
  const out = new Map<string, number>();
  const state = states.find((s) => s.name === name);
  if (!state) return out;
  const elsewhere = new Set<string>();
  for (const s of states)
    if (s.name !== name) for (const m of s.manifests) for (const b of m.blobs) elsewhere.add(b.digest);
  const nodes = new Map(state.manifests.map((m) => [m.digest, m]));
  const refs = referrersOf(nodes);
  const sizes = blobSizes(state.manifests);
  const tagsOf = new Map<string, number>();
  for (const t of state.tags) tagsOf.set(t.digest, (tagsOf.get(t.digest) ?? 0) + 1);
  for (const t of state.tags) {
    if ((tagsOf.get(t.digest) ?? 0) > 1 || !nodes.has(t.digest)) {
      out.set(t.tag, 0);
      continue;
    }
    const mine = reach([t.digest], nodes, refs);
    const others = reach(
      [
        ...state.tags.filter((o) => o.digest !== t.digest).map((o) => o.digest),
        ...state.manifests.filter((m) => !mine.has(m.digest)).map((m) => m.digest),
      ],
      nodes,
      refs,
    );
    const held = new Set<string>();
    for (const d of mine) if (!others.has(d)) for (const b of nodes.get(d)!.blobs) held.add(b.digest);
    for (const d of others) for (const b of nodes.get(d)!.blobs) held.delete(b.digest);
    let bytes = 0;
    for (const b of held) if (!elsewhere.has(b)) bytes += sizes.get(b) ?? 0;
    out.set(t.tag, bytes);
  }
  return out;
}

/** Blob digest -> size, as the repository's manifests describe them. */
function blobSizes(manifests: readonly ScannedManifest[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of manifests) for (const b of m.blobs) out.set(b.digest, b.size);
  return out;
}
