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
import type { UpstreamSpec } from './config.js';
import { ProxyRouter } from './router.js';

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
    if (m?.parsed.kind === 'index')
      for (const c of m.parsed.body.manifests) queue.push(...(parseDigest(c.digest) ? [parseDigest(c.digest)!] : []));
  }
  return seen;
}

/** Removes (with `dryRun`, only finds) the expired tags and manifests of one repository, into `out`. */
async function expireRepository(
  registry: Registry,
  name: string,
  ttlMs: number,
  now: number,
  dryRun: boolean,
  out: ExpiryReport,
): Promise<void> {
  const kept: Digest[] = [];
  for (const tag of (await registry.tags.all(name)) ?? []) {
    const age = ageOf(await registry.tags.pushedAt(name, tag), now);
    if (age === null) continue;
    if (age < ttlMs) {
      kept.push(await registry.tags.get(name, tag));
      continue;
    }
    if (!dryRun) await registry.upkeep.tags.untag(name, tag).catch(() => undefined);
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
    if (!dryRun) await registry.upkeep.manifests.delete(name, d).catch(() => undefined);
    out.manifests.push(`${name}@${d.value}`);
  }
}

/** What expiry needs of an upstream: its spec, and whether it is down (its content is kept then). */
export type ExpiringUpstream = { spec: UpstreamSpec; down: boolean };

/**
 * Expires what is due in every proxied repository, then (unless `collect` is false: the caller collects) runs the
 * safe GC for the blobs. `dryRun` only finds the tags and manifests, and collects nothing.
 */
export async function expireCached(
  registry: Registry,
  router: ProxyRouter<ExpiringUpstream>,
  opts: { graceMs: number; now?: number; dryRun?: boolean; collect?: boolean },
): Promise<ExpiryReport> {
  const now = opts.now ?? Date.now();
  const out: ExpiryReport = { tags: [], manifests: [] };
  for (const name of await registry.repositoryDirectories()) {
    const r = router.route(name);
    // While its upstream is down, the cache may hold the only reachable copy: keep it.
    if (!r || r === 'unknown' || r.upstream.spec.expireMs === null || r.upstream.down) continue;
    await expireRepository(registry, name, r.upstream.spec.expireMs, now, opts.dryRun === true, out);
  }
  if (out.manifests.length > 0 && !opts.dryRun && opts.collect !== false) {
    out.gc = await registry.collectGarbage({ graceMs: opts.graceMs });
    for (const b of out.gc.blobsRemoved) {
      const d = parseDigest(b.digest);
      if (d) await registry.blobs.forget(d);
    }
  }
  return out;
}

/**
 * Whether an upstream answers now (`GET /v2/`: 200, or 401 asking for credentials): what `wharf garbage-collect`
 * knows instead of the server's last request, so that it keeps the content of a dead upstream as the server does.
 */
export async function upstreamAnswers(spec: UpstreamSpec): Promise<boolean> {
  try {
    const r = await fetch(new URL('/v2/', spec.url), {
      signal: AbortSignal.timeout(spec.timeoutMs),
      redirect: 'manual',
    });
    await r.arrayBuffer().catch(() => undefined);
    return r.status < 500 && r.status !== 429;
  } catch {
    return false;
  }
}

/** Expiry outside the server (`wharf garbage-collect`): every upstream with an `expire` is probed first. */
export async function expireOffline(
  registry: Registry,
  specs: UpstreamSpec[],
  opts: { dryRun?: boolean; now?: number },
): Promise<ExpiryReport & { down: string[] }> {
  const ups = await Promise.all(
    specs.map(async (spec) => ({ spec, down: spec.expireMs !== null && !(await upstreamAnswers(spec)) })),
  );
  const report = await expireCached(registry, new ProxyRouter(ups), {
    graceMs: 0,
    dryRun: opts.dryRun,
    now: opts.now,
    collect: false,
  });
  return { ...report, down: ups.filter((u) => u.down).map((u) => u.spec.label) };
}

/** Runs expiry every `intervalMs` (one run at a time); returns the function that stops it. */
export function scheduleExpiry(
  registry: Registry,
  router: ProxyRouter<ExpiringUpstream>,
  opts: { graceMs: number; intervalMs: number },
  log: Logger,
): () => void {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const run = async () => {
    try {
      const r = await expireCached(registry, router, { graceMs: opts.graceMs });
      if (r.tags.length > 0 || r.manifests.length > 0) {
        log.info(
          {
            tags: r.tags.length,
            manifests: r.manifests.length,
            blobs: r.gc?.blobsRemoved.length ?? 0,
            bytes: r.gc?.bytesFreed ?? 0,
          },
          'proxy: expired cached content removed',
        );
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
