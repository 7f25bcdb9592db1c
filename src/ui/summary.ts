/**
 * What the tag list shows of a manifest without the browser fetching it: media type, artifact type, total size
 * (unique config and layer blobs, summed over an index's children) and platforms. Keyed by digest: a manifest's
 * content never changes, so a summary is computed once and kept in a bounded cache.
 */
import { parseDigest, type Digest } from '../oci/names.js';
import { Lru } from '../registry/lru.js';
import type { Registry } from '../registry/registry.js';

export interface ManifestSummary {
  mediaType: string;
  artifactType?: string;
  /** Bytes of the distinct config and layer blobs (of every child, for an index). */
  size: number;
  /** `os/architecture[/variant]`, sorted; attestation manifests (`unknown/unknown`) are left out. */
  platforms: string[];
}

const IMAGE_CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);
/** A config larger than this is not read for its platform. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export class Summaries {
  private readonly cache = new Lru<string, ManifestSummary>(10_000);

  constructor(private readonly registry: Registry) {}

  /** The summary of manifest `d`, or null when it is missing or unreadable. */
  async of(d: Digest): Promise<ManifestSummary | null> {
    const hit = this.cache.get(d.value);
    if (hit) return hit;
    const blobs = new Map<string, number>();
    const platforms = new Set<string>();
    const m = await this.registry.manifests.load(d);
    if (!m) return null;
    let artifactType: string | undefined;
    if (m.parsed.kind === 'image') {
      const body = m.parsed.body;
      artifactType =
        body.artifactType ?? (IMAGE_CONFIG_TYPES.has(body.config.mediaType) ? undefined : body.config.mediaType);
      const p = await this.imageInto(d, blobs);
      if (p) platforms.add(p);
    } else {
      artifactType = m.parsed.body.artifactType;
      for (const child of m.parsed.body.manifests) {
        const cd = parseDigest(child.digest);
        const fromChild = cd ? await this.imageInto(cd, blobs) : null;
        const p = child.platform ? platformString(child.platform) : fromChild;
        if (p && p !== 'unknown/unknown') platforms.add(p);
      }
    }
    let size = 0;
    for (const s of blobs.values()) size += s;
    const summary: ManifestSummary = { mediaType: m.mediaType, size, platforms: [...platforms].sort() };
    if (artifactType) summary.artifactType = artifactType;
    this.cache.set(d.value, summary);
    return summary;
  }

  /** Adds an image manifest's blobs to `blobs`; returns its platform from the config, when it is an image config. */
  private async imageInto(d: Digest, blobs: Map<string, number>): Promise<string | null> {
    const m = await this.registry.manifests.load(d);
    if (!m || m.parsed.kind !== 'image') return null;
    const { config, layers } = m.parsed.body;
    blobs.set(config.digest, config.size);
    for (const l of layers) blobs.set(l.digest, l.size);
    if (!IMAGE_CONFIG_TYPES.has(config.mediaType) || config.size > MAX_CONFIG_BYTES) return null;
    const cd = parseDigest(config.digest);
    if (!cd) return null;
    try {
      const c = JSON.parse((await this.registry.blobs.getSmall(cd)).toString('utf8')) as Record<string, unknown>;
      return typeof c.os === 'string' && typeof c.architecture === 'string'
        ? platformString(c as { os: string; architecture: string; variant?: unknown })
        : null;
    } catch {
      return null;
    }
  }
}

export function platformString(p: { os: string; architecture: string; variant?: unknown }): string {
  return `${p.os}/${p.architecture}${typeof p.variant === 'string' && p.variant ? `/${p.variant}` : ''}`;
}

/**
 * When a tag was last pointed at a manifest (TagStore.pushedAt: its current link's modification time, as
 * Distribution's layout has no push date); null when unknown, whatever the reason.
 */
export async function tagPushedAt(registry: Registry, name: string, tag: string): Promise<Date | null> {
  return registry.tags.pushedAt(name, tag).catch(() => null);
}
