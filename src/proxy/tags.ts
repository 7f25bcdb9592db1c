/**
 * The tags list of a proxied repository, as Distribution's proxy answers it (registry/proxy/proxytagservice.go,
 * All): the upstream's whole list (every page, following its `Link: rel="next"`), and the cached tags when the
 * upstream cannot answer (a warning and `registry_proxy_stale_served_total`). The HTTP handler paginates the result
 * with `n`/`last` like a local list. Nothing is cached from the upstream's list: it names tags, not content.
 */
import { ociError, OciError } from '../oci/errors.js';
import { isValidTag } from '../oci/names.js';
import type { Registry } from '../registry/registry.js';
import { readSmall, UpstreamError } from './client.js';
import type { Route } from './manifests.js';
import { statusError, unavailable } from './manifests.js';
import { Upstream } from './upstream.js';

/** Pages followed at most (a list longer than this is refused as unusable, and the cached list served instead). */
const MAX_PAGES = 1000;
const MAX_PAGE_BYTES = 4 * 1024 * 1024;

/** The target of a `Link: <...>; rel="next"` header, or null. */
export function nextLink(header: string | string[] | undefined): string | null {
  const v = Array.isArray(header) ? header.join(', ') : header;
  const m = v ? /<([^>]*)>\s*;\s*rel="?next"?/i.exec(v) : null;
  return m ? m[1] : null;
}

export class TagsProxy {
  /** One upstream listing per repository at a time: concurrent requests share it. */
  private readonly inflight = new Map<string, Promise<string[] | null>>();

  constructor(private readonly registry: Registry) {}

  /** Sorted tags of `route.local` (null: no such repository, upstream or cached). */
  list(route: Route): Promise<string[] | null> {
    const key = `${route.upstream.label} ${route.local}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.listOnce(route).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async listOnce(route: Route): Promise<string[] | null> {
    const up = route.upstream;
    try {
      return await this.remote(route);
    } catch (err) {
      const local = await this.registry.tags.all(route.local);
      const known = err instanceof OciError;
      if (!known && err instanceof UpstreamError)
        up.failed(err.status === 502 ? 'content' : err.kind, `${route.remote}: tags list: ${err.message}`);
      if (local === null) {
        if (known) return null;
        throw unavailable(err);
      }
      if (!known) {
        up.metrics.proxyStale.inc({ upstream: up.label });
        up.log.warn(
          { upstream: up.label, repository: route.local },
          `upstream ${up.label} could not list the tags of ${route.remote}; serving the ${local.length} cached tags`,
        );
      }
      return local;
    }
  }

  /** Every page of the upstream's list, merged and sorted; throws NAME_UNKNOWN (an OciError) or UpstreamError. */
  private async remote(route: Route): Promise<string[]> {
    const up = route.upstream;
    const origin = up.spec.url.origin;
    const tags = new Set<string>();
    let path: string | null = `/v2/${route.remote}/tags/list`;
    for (let page = 0; path !== null; page++) {
      if (page === MAX_PAGES) throw new UpstreamError('status', `tags list longer than ${MAX_PAGES} pages`, 502);
      const res = await up.client.request('GET', path, Upstream.scope(route.remote));
      if (res.status !== 200) {
        const err = statusError(res, 'MANIFEST_UNKNOWN', null);
        if (err instanceof OciError) throw ociError('NAME_UNKNOWN', { name: route.local });
        throw err;
      }
      let body: { tags?: unknown };
      try {
        body = JSON.parse(await readSmall(res.body, MAX_PAGE_BYTES)) as { tags?: unknown };
      } catch (err) {
        if (err instanceof UpstreamError) throw err;
        throw new UpstreamError('status', 'sent a tags list that is not JSON', 502);
      }
      if (body.tags !== null && body.tags !== undefined && !Array.isArray(body.tags))
        throw new UpstreamError('status', 'sent a tags list without a tags array', 502);
      // Names that are not tags could never be pulled by tag: left out rather than passed on.
      for (const t of (body.tags as unknown[] | null | undefined) ?? [])
        if (typeof t === 'string' && isValidTag(t)) tags.add(t);
      const next = nextLink(res.headers.link);
      path = null;
      if (next) {
        const url = new URL(next, up.spec.url);
        // Only the upstream itself is asked (with its credentials); a link elsewhere ends the list.
        if (url.origin !== origin)
          throw new UpstreamError('status', `tags list links to another origin (${url.origin})`, 502);
        path = `${url.pathname}${url.search}`;
      }
    }
    return [...tags].sort();
  }
}
