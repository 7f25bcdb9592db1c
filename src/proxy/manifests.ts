/**
 * Manifests through the cache. By digest: served from the cache, else fetched, checked against the digest, kept.
 * By tag: a cached tag younger than the upstream's ttl is served as is; an older one is revalidated with a HEAD
 * (not counted as a pull by Docker Hub) and re-fetched only when the upstream's digest changed. When the upstream
 * cannot be asked, a cached tag is served anyway (warning + metric); only content never cached fails.
 */
import { createHash } from 'node:crypto';
import { ociError, OciError } from '../oci/errors.js';
import { MT } from '../oci/mediatypes.js';
import { parseDigest, type Digest, type Reference } from '../oci/names.js';
import { parseManifest } from '../oci/manifest.js';
import { ManifestUnknown, RegistryError } from '../registry/errors.js';
import { MAX_MANIFEST_BYTES, type StoredManifest } from '../registry/manifests.js';
import type { Registry } from '../registry/registry.js';
import { readSmallBytes, UpstreamError, type UpstreamResponse } from './client.js';
import type { ProxyRoute } from './router.js';
import { Upstream } from './upstream.js';

export type Route = ProxyRoute<Upstream>;

const ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest].join(', ');

/** Maps an upstream's failure to what a client is told when nothing cached can stand in. */
export function unavailable(err: unknown): OciError {
  if (err instanceof OciError) return err;
  return ociError('UNAVAILABLE', undefined, `the upstream registry cannot serve this now: ${(err as Error).message}`);
}

/** A non-success answer: 404 (and an auth refusal: Docker Hub's answer for a missing repository) means unknown. */
export function statusError(res: UpstreamResponse, code: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN', detail: unknown): Error {
  res.body.resume();
  if (res.status === 404 || res.status === 401 || res.status === 403)
    return ociError(code, detail, res.status === 404 ? undefined : 'the upstream registry refused access to it');
  return new UpstreamError('status', `answered ${res.status}`, res.status);
}

/** Manifests passed through in read-only mode (fetched, verified, not stored), kept for the request that asked. */
const PASSED_KEEP = 256;

export class ManifestProxy {
  /** One fetch per reference in this process: concurrent first pulls wait for the same answer. */
  private readonly inflight = new Map<string, Promise<Digest>>();
  /** Read-only mode: the manifests just passed through, by local name and digest (oldest dropped first). */
  private readonly passed = new Map<string, StoredManifest>();
  private readonly readOnly: boolean;

  constructor(private readonly registry: Registry) {
    this.readOnly = registry.options.readOnly;
  }

  /** The manifest `resolve` answered: from storage, or (read-only mode) as it was passed through. */
  async get(route: Route, d: Digest): Promise<StoredManifest> {
    return this.passed.get(`${route.local}@${d.value}`) ?? this.registry.manifests.get(route.local, d);
  }

  /** The digest to serve for `ref` from `route.local`, with the manifest cached there. */
  resolve(route: Route, ref: Reference): Promise<Digest> {
    const key = `${route.upstream.label} ${route.local} ${ref.tag ?? ref.digest!.value}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = (ref.digest ? this.byDigest(route, ref.digest) : this.byTag(route, ref.tag!)).finally(() =>
        this.inflight.delete(key),
      );
      this.inflight.set(key, p);
    }
    return p;
  }

  private async cached(local: string, d: Digest): Promise<boolean> {
    // Fresh: expiry may have unlinked it since it was cached in memory.
    return (await this.registry.manifests.isLinked(local, d, true)) && (await this.registry.manifests.load(d)) !== null;
  }

  private async byDigest(route: Route, d: Digest): Promise<Digest> {
    if (this.passed.has(`${route.local}@${d.value}`) || (await this.cached(route.local, d))) {
      route.upstream.hit('manifest');
      return d;
    }
    route.upstream.miss('manifest');
    try {
      return await this.fetch(route, d.value, d);
    } catch (err) {
      this.report(route, err);
      throw unavailable(err);
    }
  }

  /** The cached tag and how old it is (since it was fetched or last revalidated), or null. */
  private async localTag(local: string, tag: string): Promise<{ digest: Digest; ageMs: number } | null> {
    try {
      const pushedAt = await this.registry.tags.pushedAt(local, tag);
      if (!pushedAt) return null;
      const digest = await this.registry.tags.get(local, tag);
      return (await this.cached(local, digest)) ? { digest, ageMs: Date.now() - pushedAt.getTime() } : null;
    } catch (err) {
      if (err instanceof ManifestUnknown) return null;
      throw err;
    }
  }

  private async byTag(route: Route, tag: string): Promise<Digest> {
    const up = route.upstream;
    const local = await this.localTag(route.local, tag);
    const ttl = up.spec.ttlMs;
    if (local && (ttl === null || local.ageMs < ttl)) {
      up.hit('manifest');
      return local.digest;
    }
    try {
      if (local) return await this.revalidate(route, tag, local.digest);
      up.miss('manifest');
      const d = await this.fetch(route, tag);
      if (!this.readOnly) await this.registry.upkeep.tags.tag(route.local, tag, d);
      return d;
    } catch (err) {
      this.report(route, err);
      if (!local) throw unavailable(err);
      up.metrics.proxyStale.inc({ upstream: up.label });
      up.log.warn(
        { upstream: up.label, repository: route.local, tag },
        `upstream ${up.label} could not revalidate ${route.local}:${tag}; serving the cached ${local.digest.value}`,
      );
      return local.digest;
    }
  }

  /** HEAD by tag: an unchanged digest only refreshes the tag's age; a new one is fetched (by digest) and tagged. */
  private async revalidate(route: Route, tag: string, current: Digest): Promise<Digest> {
    const up = route.upstream;
    const res = await up.client.request('HEAD', `/v2/${route.remote}/manifests/${tag}`, Upstream.scope(route.remote), {
      Accept: ACCEPT,
    });
    res.body.resume();
    if (res.status !== 200) throw statusError(res, 'MANIFEST_UNKNOWN', { Tag: tag });
    const header = res.headers['docker-content-digest'];
    const announced = typeof header === 'string' ? parseDigest(header) : null;
    if (announced && announced.value === current.value) {
      up.metrics.proxyRevalidations.inc({ upstream: up.label, outcome: 'unchanged' });
      up.hit('manifest');
      if (!this.readOnly) await this.registry.upkeep.tags.tag(route.local, tag, current);
      return current;
    }
    up.metrics.proxyRevalidations.inc({ upstream: up.label, outcome: 'changed' });
    up.miss('manifest');
    const d =
      announced && (await this.cached(route.local, announced))
        ? announced
        : await this.fetch(route, announced?.value ?? tag, announced ?? undefined);
    if (!this.readOnly) await this.registry.upkeep.tags.tag(route.local, tag, d);
    return d;
  }

  /**
   * GET a manifest upstream and keep it in `route.local`. Its bytes must hash to `expected` (asked by digest) or to
   * the Docker-Content-Digest the upstream announces; anything else is refused and nothing is stored.
   */
  private async fetch(route: Route, reference: string, expected?: Digest): Promise<Digest> {
    const up = route.upstream;
    const res = await up.client.request(
      'GET',
      `/v2/${route.remote}/manifests/${reference}`,
      Upstream.scope(route.remote),
      { Accept: ACCEPT },
    );
    if (res.status !== 200)
      throw statusError(
        res,
        'MANIFEST_UNKNOWN',
        expected ? { Name: route.local, Revision: expected.value } : { Tag: reference },
      );
    const bytes = await readSmallBytes(res.body, MAX_MANIFEST_BYTES);
    up.bytes('manifest', bytes.length);
    const header = res.headers['docker-content-digest'];
    const announced = typeof header === 'string' ? parseDigest(header) : null;
    const want = expected ?? announced;
    const algorithm = want?.algorithm ?? 'sha256';
    const actual = parseDigest(`${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`)!;
    if (want && want.value !== actual.value)
      throw new UpstreamError(
        'status',
        `sent a manifest for ${route.remote}:${reference} whose digest is ${actual.value}, not ${want.value}`,
        502,
      );
    const type = res.headers['content-type'];
    const contentType = typeof type === 'string' ? type.split(';')[0].trim() : undefined;
    try {
      if (this.readOnly)
        this.pass(route, { digest: actual, bytes, mediaType: '', parsed: parseManifest(bytes, contentType) });
      else await this.registry.cachedManifests.put(route.local, bytes, contentType, actual);
    } catch (err) {
      if (err instanceof OciError || err instanceof RegistryError)
        throw new UpstreamError(
          'status',
          `sent an unusable manifest for ${route.remote}:${reference}: ${err.message}`,
          502,
        );
      throw err;
    }
    return actual;
  }

  /** Read-only mode: keeps a verified manifest for the request (and its index children's) instead of storing it. */
  private pass(route: Route, m: StoredManifest): void {
    m.mediaType = m.parsed.mediaType;
    this.passed.delete(`${route.local}@${m.digest.value}`);
    this.passed.set(`${route.local}@${m.digest.value}`, m);
    if (this.passed.size > PASSED_KEEP) this.passed.delete(this.passed.keys().next().value!);
  }

  private report(route: Route, err: unknown): void {
    if (err instanceof UpstreamError)
      route.upstream.failed(err.status === 502 ? 'content' : err.kind, `${route.remote}: ${err.message}`);
  }
}
