/**
 * Expiry of cached content (Distribution's scheduler, done through the safe GC). In each proxied repository whose
 * upstream has a ttl: a tag neither fetched nor revalidated for a ttl is removed, then every manifest that is older
 * than the ttl and that no remaining tag reaches (directly or as an index child) is unlinked. The blobs are left to
 * `garbageCollect` (src/registry/gc.ts), which deletes only what no manifest in any repository still references,
 * so an image that shares a layer with an expired one never loses it.
 */
import type { Logger } from 'pino';
import { parseDigest, type Digest } from '../oci/names.js';
import type { GcReport } from '../registry/gc.js';
import type { Registry } from '../registry/registry.js';
import type { ProxyRouter } from './router.js';
import type { Upstream } from './upstream.js';

export interface ExpiryReport {
  tags: string[];
  manifests: string[];
  gc?: GcReport;
}

/** How long ago `written` was (null when the file is gone). */
function ageOf(written: Date | null, now: number): number | null {
  return written && now - written.getTime();
}

/** Digests reachable from `roots` through index children, within the repository. */
async function reachable(registry: Registry, roots: Digest[]): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue = [...roots];
  while (queue.length > 0) {
    const d = queue.pop()!;
    if (seen.has(d.value)) continue;
    seen.add(d.value);
    const m = await registry.manifests.load(d);
    if (m?.parsed.kind === 'index') for (const c of m.parsed.body.manifests) queue.push(...(parseDigest(c.digest) ? [parseDigest(c.digest)!] : []));
  }
  return seen;
}

/** Removes the expired tags and manifests of one repository; returns what it removed. */
async function expireRepository(registry: Registry, name: string, ttlMs: number, now: number, out: ExpiryReport): Promise<void> {
  const kept: Digest[] = [];
  for (const tag of (await registry.tags.all(name)) ?? []) {
    const age = ageOf(await registry.tags.pushedAt(name, tag), now);
    if (age === null) continue;
    if (age < ttlMs) {
      kept.push(await registry.tags.get(name, tag));
      continue;
    }
    await registry.upkeep.tags.untag(name, tag).catch(() => undefined);
    out.tags.push(`${name}:${tag}`);
  }
  const revisions = await registry.manifests.revisions(name);
  const young: Digest[] = [];
  for (const d of revisions) {
    const age = ageOf(await registry.manifests.linkedAt(name, d), now);
    if (age !== null && age < ttlMs) young.push(d);
  }
  const keep = await reachable(registry, [...kept, ...young]);
  for (const d of revisions) {
    if (keep.has(d.value)) continue;
    await registry.upkeep.manifests.delete(name, d).catch(() => undefined);
    out.manifests.push(`${name}@${d.value}`);
  }
}

export async function expireCached(registry: Registry, router: ProxyRouter<Upstream>, opts: { graceMs: number; now?: number }): Promise<ExpiryReport> {
  const now = opts.now ?? Date.now();
  const out: ExpiryReport = { tags: [], manifests: [] };
  for (const name of await registry.repositoryDirectories()) {
    const r = router.route(name);
    // While its upstream is down, the cache may hold the only reachable copy: keep it.
    if (!r || r === 'unknown' || r.upstream.spec.expireMs === null || r.upstream.down) continue;
    await expireRepository(registry, name, r.upstream.spec.expireMs, now, out);
  }
  if (out.manifests.length > 0) {
    out.gc = await registry.collectGarbage({ graceMs: opts.graceMs });
    for (const b of out.gc.blobsRemoved) {
      const d = parseDigest(b.digest);
      if (d) await registry.blobs.forget(d);
    }
  }
  return out;
}

/** Runs expiry every `intervalMs` (one run at a time); returns the function that stops it. */
export function scheduleExpiry(registry: Registry, router: ProxyRouter<Upstream>, opts: { graceMs: number; intervalMs: number }, log: Logger): () => void {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const run = async () => {
    try {
      const r = await expireCached(registry, router, { graceMs: opts.graceMs });
      if (r.tags.length > 0 || r.manifests.length > 0) {
        log.info({ tags: r.tags.length, manifests: r.manifests.length, blobs: r.gc?.blobsRemoved.length ?? 0, bytes: r.gc?.bytesFreed ?? 0 }, 'proxy: expired cached content removed');
      }
    } catch (err) {
      log.error({ err }, 'proxy: expiry run failed; retrying at the next interval');
    }
    if (!stopped) timer = setTimeout(() => void run(), opts.intervalMs).unref();
  };
  timer = setTimeout(() => void run(), opts.intervalMs).unref();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
