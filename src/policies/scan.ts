/**
 * What retention decides over, read from storage: every repository's tags with their push times (the tag link's
 * modification time: mtime on the filesystem, LastModified on S3), its manifests with theirs (the revision
 * link's), and each manifest's children, subject and blobs. No state of wharf's own: a Distribution data directory
 * is read as it is.
 */
import { parseDigest } from '../oci/names.js';
import type { Registry } from '../registry/registry.js';
import type { ManifestNode, TagState } from './retention.js';
import { mapLimit } from '../storage/maplimit.js';

export interface ScannedManifest extends ManifestNode {
  /**
   * The manifest's own blob, then its config and layers (every layer, foreign ones too, as GC marks them), with
   * the sizes the descriptors state (the manifest's own: its length; 0 when unreadable).
   */
  blobs: Array<{ digest: string; size: number }>;
}

export interface RepositoryState {
  name: string;
  tags: TagState[];
  manifests: ScannedManifest[];
}

/** One repository's tags and manifests; tags or manifests that vanish while it reads are left out. */
export async function scanRepository(registry: Registry, name: string, concurrency = 16): Promise<RepositoryState> {
  const tagNames = (await registry.tags.all(name)) ?? [];
  const tags = (
    await mapLimit(tagNames, concurrency, async (tag): Promise<TagState | null> => {
      const pushedAt = (await registry.tags.pushedAt(name, tag))?.getTime() ?? null;
      if (pushedAt === null) return null;
      try {
        return { tag, digest: (await registry.tags.get(name, tag)).value, pushedAt };
      } catch {
        return null; // untagged meanwhile
      }
    })
  ).filter((t): t is TagState => t !== null);
  const revisions = await registry.manifests.revisions(name);
  const manifests = (
    await mapLimit(revisions, concurrency, async (d): Promise<ScannedManifest | null> => {
      const pushedAt = (await registry.manifests.linkedAt(name, d))?.getTime() ?? null;
      if (pushedAt === null) return null; // deleted, or parked by a garbage collection in progress
      const m = await registry.manifests.load(d);
      const node: ScannedManifest = {
        digest: d.value,
        pushedAt,
        children: [],
        blobs: [{ digest: d.value, size: m?.bytes.length ?? 0 }],
      };
      if (!m) return node; // unreadable: nothing to follow, as GC warns
      if (m.parsed.kind === 'image')
        node.blobs.push(
          ...[m.parsed.body.config, ...m.parsed.body.layers].map((x) => ({ digest: x.digest, size: x.size })),
        );
      else node.children = m.parsed.body.manifests.map((c) => c.digest).filter((c) => parseDigest(c) !== null);
      if (m.parsed.body.subject) node.subject = m.parsed.body.subject.digest;
      return node;
    })
  ).filter((m): m is ScannedManifest => m !== null);
  return { name, tags, manifests };
}

export async function scanRegistry(registry: Registry, concurrency = 4): Promise<RepositoryState[]> {
  // Fresh, not the catalog's kept list: a cleanup run must see what another replica pushed a moment ago.
  const names = await registry.repositories(true);
  return mapLimit(names, concurrency, (name) => scanRepository(registry, name));
}
