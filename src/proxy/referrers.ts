/**
 * The referrers of a subject in a proxied repository (`GET /v2/<name>/referrers/<digest>`). The upstream is asked
 * first: its list is what a client of the upstream would see, and the referrers it names are pulled through the
 * cache by digest like any manifest (so each is verified then). The list itself is never stored: it is an
 * untrusted claim about content, and kept only in the answer, after each descriptor was checked for form.
 *
 * - upstream 200 with an OCI index: its descriptors (filtered by `artifactType` here when the upstream did not).
 * - upstream 404, 401/403 or 405: it does not serve the API (Distribution 2.8) or that repository. The answer is
 *   404, as the OCI spec has a registry without the API answer, so clients fall back to the `sha256-<hex>` tag
 *   schema, which the mirror serves from the upstream like any tag. A local list here would tell them, wrongly,
 *   that there are none.
 * - upstream unreachable, 5xx, 429 or a malformed answer: the referrers among the cached manifests (a warning and
 *   `registry_proxy_stale_served_total`), as cached tags are served while the upstream is down.
 */
import { ociError, OciError } from '../oci/errors.js';
import { descriptor, type Descriptor } from '../oci/manifest.js';
import { MT } from '../oci/mediatypes.js';
import type { Digest } from '../oci/names.js';
import type { Registry } from '../registry/registry.js';
import { readSmall, UpstreamError } from './client.js';
import type { Route } from './manifests.js';
import { Upstream } from './upstream.js';

const MAX_INDEX_BYTES = 4 * 1024 * 1024;

export interface ReferrersAnswer {
  manifests: Descriptor[];
  /** Whether `artifactType` was applied (always, when one was asked). */
  filtered: boolean;
}

export class ReferrersProxy {
  constructor(private readonly registry: Registry) {}

  async list(route: Route, subject: Digest, artifactType: string | undefined): Promise<ReferrersAnswer> {
    const up = route.upstream;
    try {
      return { manifests: await this.remote(route, subject, artifactType), filtered: artifactType !== undefined };
    } catch (err) {
      if (err instanceof OciError) throw err;
      if (err instanceof UpstreamError)
        up.failed(err.status === 502 ? 'content' : err.kind, `${route.remote}: referrers: ${err.message}`);
      const manifests = await this.registry.manifests.referrers(route.local, subject, artifactType);
      up.metrics.proxyStale.inc({ upstream: up.label });
      up.log.warn(
        { upstream: up.label, repository: route.local, subject: subject.value },
        `upstream ${up.label} could not list the referrers of ${route.remote}@${subject.value}; serving the ${manifests.length} cached ones`,
      );
      return { manifests, filtered: artifactType !== undefined };
    }
  }

  private async remote(route: Route, subject: Digest, artifactType: string | undefined): Promise<Descriptor[]> {
    const query = artifactType !== undefined ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
    const res = await route.upstream.client.request(
      'GET',
      `/v2/${route.remote}/referrers/${subject.value}${query}`,
      Upstream.scope(route.remote),
      { Accept: MT.ociIndex },
    );
    if ([404, 401, 403, 405].includes(res.status)) {
      res.body.resume();
      throw ociError(
        'NAME_UNKNOWN',
        { name: route.local },
        'the upstream registry does not serve the referrers API for this repository: use the tag schema (sha256-<hex>)',
      );
    }
    if (res.status !== 200) {
      res.body.resume();
      throw new UpstreamError('status', `answered ${res.status}`, res.status);
    }
    let body: { schemaVersion?: unknown; manifests?: unknown };
    try {
      body = JSON.parse(await readSmall(res.body, MAX_INDEX_BYTES)) as typeof body;
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      throw new UpstreamError('status', 'sent a referrers list that is not JSON', 502);
    }
    if (body.schemaVersion !== 2 || !Array.isArray(body.manifests))
      throw new UpstreamError('status', 'sent a referrers list that is not an OCI index', 502);
    const out: Descriptor[] = [];
    for (const m of body.manifests) {
      const d = descriptor.safeParse(m);
      // A malformed entry is left out, not passed on: a client would fail on it or fetch nonsense.
      if (!d.success) continue;
      if (artifactType !== undefined && d.data.artifactType !== artifactType) continue;
      out.push(d.data);
    }
    return out;
  }
}
