/**
 * The pull-through cache (config `proxy`): which repositories come from which upstream, and the manifest and blob
 * services that fill the cache. Handlers ask `route()` for the name they were given; a null answer is a local
 * repository, served as if no proxy were configured.
 */
import type { Logger } from 'pino';
import type { RouteName } from '../auth/access.js';
import type { Config } from '../config/schema.js';
import type { Metrics } from '../metrics.js';
import { ociError } from '../oci/errors.js';
import type { UploadLocks } from '../registry/locks.js';
import type { Registry } from '../registry/registry.js';
import { BlobProxy } from './blobs.js';
import type { DownloadBoard } from './board.js';
import { upstreamsOf } from './config.js';
import { scheduleExpiry } from './expiry.js';
import { ManifestProxy, type Route } from './manifests.js';
import { ProxyRouter } from './router.js';
import { ReferrersProxy } from './referrers.js';
import { TagsProxy } from './tags.js';
import { Upstream } from './upstream.js';

export type { Route } from './manifests.js';

/** Methods that write, per route: refused on proxied repositories (405 UNSUPPORTED, as Distribution's mirror answers). */
const WRITES: Partial<Record<RouteName, string[]>> = {
  manifest: ['PUT', 'DELETE'],
  blob: ['DELETE'],
  uploadStart: ['POST'],
  upload: ['PATCH', 'PUT', 'DELETE'],
};

export class PullThroughCache {
  readonly router: ProxyRouter<Upstream>;
  readonly manifests: ManifestProxy;
  readonly blobs: BlobProxy;
  readonly tags: TagsProxy;
  readonly referrers: ReferrersProxy;

  constructor(
    readonly upstreams: Upstream[],
    registry: Registry,
    log: Logger,
    locks?: UploadLocks,
    board?: DownloadBoard,
  ) {
    this.router = new ProxyRouter(upstreams);
    this.manifests = new ManifestProxy(registry);
    this.blobs = new BlobProxy(registry, log, locks, board);
    this.tags = new TagsProxy(registry);
    this.referrers = new ReferrersProxy(registry);
  }

  /** The upstream route of a repository name as the client sent it (with its `?ns=`); null for a local one. */
  route(name: string, query: URLSearchParams): Route | null {
    const r = this.router.route(name, query.get('ns'));
    if (r === 'unknown')
      throw ociError('NAME_UNKNOWN', { name }, 'no upstream registry is configured for this repository');
    return r;
  }

  /** Whether the request writes to a proxied repository. */
  refusesWrite(route: RouteName, method: string, name: string | undefined, query: URLSearchParams): boolean {
    if (name === undefined || !WRITES[route]?.includes(method)) return false;
    return this.router.route(name, query.get('ns')) !== null;
  }

  /** The upstream a stored repository caches (for the UI), or undefined for a local one. */
  upstreamOf(local: string): { label: string; url: string } | undefined {
    const r = this.router.route(local);
    return r && r !== 'unknown' ? { label: r.upstream.label, url: r.upstream.spec.url.origin } : undefined;
  }

  /**
   * Starts expiring cached content (see expiry.ts), checked every half of the shortest `expire`, at most hourly and at
   * least every second; a no-op when every upstream keeps its content forever.
   */
  startExpiry(registry: Registry, graceMs: number, log: Logger): void {
    const ttls = this.upstreams.map((u) => u.spec.expireMs).filter((t): t is number => t !== null);
    if (ttls.length === 0) return;
    const intervalMs = Math.min(3_600_000, Math.max(1000, Math.min(...ttls) / 2));
    this.stopExpiry = scheduleExpiry(registry, this.router, { graceMs, intervalMs }, log);
  }

  private stopExpiry = () => {};

  close(): void {
    this.stopExpiry();
    for (const u of this.upstreams) u.client.close();
  }
}

export function createProxy(
  config: Readonly<Config>,
  registry: Registry,
  metrics: Metrics,
  log: Logger,
  locks?: UploadLocks,
  board?: DownloadBoard,
): PullThroughCache | undefined {
  if (!config.proxy) return undefined;
  const plog = log.child({ component: 'proxy' });
  const upstreams = upstreamsOf(config.proxy).map((s) => new Upstream(s, metrics, plog));
  for (const u of upstreams) {
    plog.info(
      `pull-through cache: ${u.spec.prefix ? `${u.spec.prefix}/*` : 'every other repository'} from ${u.spec.url.origin}${u.spec.ttlMs === null ? ' (never expires)' : ''}`,
    );
  }
  const cache = new PullThroughCache(upstreams, registry, plog, locks, board);
  if (!config.storage.maintenance.readonly.enabled) cache.startExpiry(registry, config.gc.graceperiod, plog);
  return cache;
}
