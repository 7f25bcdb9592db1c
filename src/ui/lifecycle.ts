/**
 * The UI's cleanup preview for one repository: the rule that governs it, what a cleanup run would untag and
 * delete there and the bytes that frees (the blobs of its removals that no kept manifest anywhere references),
 * and for every tag the bytes it holds alone. Scans the whole registry (blobs are shared across repositories), so
 * the page asks for it only when the panel is opened.
 */
import type { PolicySet } from '../policies/match.js';
import { makePlan, tagFootprints } from '../policies/plan.js';
import { scanRegistry } from '../policies/scan.js';
import type { Registry } from '../registry/registry.js';

export async function repositoryLifecycle(
  registry: Registry,
  policies: PolicySet | undefined,
  name: string,
  graceMs: number,
): Promise<Record<string, unknown>> {
  const states = await scanRegistry(registry);
  const alone = tagFootprints(states, name);
  const rule = policies?.ruleFor(name) ?? null;
  const state = states.find((s) => s.name === name);
  const iso = (t: number) => new Date(t).toISOString();
  const tags = (state?.tags ?? []).map((t) => ({
    tag: t.tag,
    digest: t.digest,
    pushed: iso(t.pushedAt),
    alone: alone.get(t.tag) ?? 0,
    immutable: rule ? policies!.immutable(name, t.tag) !== null : false,
  }));
  if (!rule || !policies)
    return { name, rule: null, tags, untag: [], deferred: [], deleteManifests: [], bytesFreed: 0 };
  const plan = await makePlan(registry, policies, { graceMs, states });
  const mine = plan.repositories.find((r) => r.repository === name);
  const removed = new Set(mine?.deleteManifests.map((m) => m.digest) ?? []);
  const mineBlobs = new Set<string>();
  for (const m of state?.manifests ?? []) if (removed.has(m.digest)) for (const b of m.blobs) mineBlobs.add(b.digest);
  const freed = plan.blobs.filter((b) => mineBlobs.has(b.digest));
  return {
    name,
    rule: {
      index: rule.index,
      repositories: rule.source.repositories,
      immutable: rule.source.immutable,
      keep: rule.source.keep ?? null,
      deleteuntagged: rule.source.deleteuntagged ?? null,
    },
    tags,
    untag: (mine?.untag ?? []).map((t) => ({ tag: t.tag, digest: t.digest, pushed: iso(t.pushedAt) })),
    deferred: (mine?.deferred ?? []).map((t) => ({ tag: t.tag, digest: t.digest, pushed: iso(t.pushedAt) })),
    deleteManifests: (mine?.deleteManifests ?? []).map((m) => ({ digest: m.digest, pushed: iso(m.pushedAt) })),
    blobs: freed.length,
    bytesFreed: freed.reduce((n, b) => n + b.size, 0),
  };
}
