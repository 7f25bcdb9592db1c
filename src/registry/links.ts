/**
 * Repository links, one store for both kinds: a layer link (`_layers/<alg>/<hex>/link`: the repository holds the
 * blob) and a manifest link (`_manifests/revisions/<alg>/<hex>/link`: it holds the manifest). A link's content is
 * its digest. Links known to exist are remembered in the descriptor cache (see cache.ts); `fresh` skips it for
 * write paths, because garbage collection (another process) may have removed a link the cache still remembers.
 */
import type { Digest } from '../oci/names.js';
import type { StorageDriver } from '../storage/driver.js';
import { contentOrNull, orIfNotFound, statOrNull } from '../storage/notfound.js';
import type { DescriptorCache, LinkKind } from './cache.js';
import { layerLink, layerLinkDir, revisionDir, revisionLink } from './paths.js';

const PATHS: Record<LinkKind, { link: (name: string, d: Digest) => string; dir: (name: string, d: Digest) => string }> =
  {
    layer: { link: layerLink, dir: layerLinkDir },
    manifest: { link: revisionLink, dir: revisionDir },
  };

export class LinkStore {
  constructor(
    private readonly driver: StorageDriver,
    private readonly cache: DescriptorCache,
  ) {}

  /**
   * Whether repository `name` links `d`. A fresh check of a layer link only stats it for a link of the digest's
   * length: links are written whole (or, by Distribution, nearly so), and a stat is a quarter of the calls of a read.
   */
  async isLinked(kind: LinkKind, name: string, d: Digest, fresh = false): Promise<boolean> {
    if (!fresh && (await this.cache.linked(kind, name, d.value))) return true;
    const path = PATHS[kind].link(name, d);
    if (kind === 'layer' && fresh) {
      const st = await statOrNull(this.driver, path);
      if (!st || st.isDir || st.size !== d.value.length) return false;
    } else {
      const content = await contentOrNull(this.driver, path);
      if (content?.toString('utf8').trim() !== d.value) return false;
    }
    await this.cache.setLinked(kind, name, d.value);
    return true;
  }

  async link(kind: LinkKind, name: string, d: Digest): Promise<void> {
    await this.driver.putContent(PATHS[kind].link(name, d), Buffer.from(d.value));
    await this.cache.setLinked(kind, name, d.value);
  }

  /**
   * Removes the link's directory; false when there is no such link (which includes the empty `_layers/<alg>/<hex>/`
   * directory Distribution leaves behind when it deletes a blob) or it vanished meanwhile.
   */
  async unlink(kind: LinkKind, name: string, d: Digest): Promise<boolean> {
    if (!(await this.isLinked(kind, name, d))) return false;
    await this.cache.forgetLink(kind, name, d.value);
    try {
      return (await orIfNotFound(
        this.driver.delete(PATHS[kind].dir(name, d)).then(() => true),
        false,
      )) as boolean;
    } finally {
      // Again: another replica may have re-cached the link from storage between the first forget and the delete.
      await this.cache.forgetLink(kind, name, d.value);
    }
  }
}
