/** Tags: `_manifests/tags/<tag>/current/link` plus the tag's history under `index/`. */
import { ManifestUnknown } from './errors.js';
import { parseDigest, type Digest } from '../oci/names.js';
import { isNotFound, type StorageDriver } from '../storage/driver.js';
import { orIfNotFound, statOrNull } from '../storage/notfound.js';
import { Lru } from './lru.js';
import { checkDelete, checkWrite, UNGUARDED, type WriteGuard } from './guard.js';
import { basename, tagCurrentLink, tagDir, tagIndexLink, tagsDir } from './paths.js';

export class TagStore {
  /**
   * `name:tag` -> the link's version and digest. Never trusted by time: every lookup stats the link (cheaper than
   * reading it) and re-reads it when its version changed, so a tag moved by another replica is seen at once.
   */
  private readonly cache = new Lru<string, { version: string; digest: Digest }>(100_000);

  constructor(private readonly driver: StorageDriver, private readonly guard: WriteGuard = UNGUARDED) {}

  /** The digest a tag points at; throws MANIFEST_UNKNOWN (detail {Tag}) when there is no such tag. */
  async get(name: string, tag: string): Promise<Digest> {
    const link = tagCurrentLink(name, tag);
    const key = `${name}:${tag}`;
    try {
      const cached = this.cache.get(key);
      const version = cached ? (await this.driver.stat(link)).version : undefined;
      if (cached && version !== undefined && version === cached.version) return cached.digest;
      // Stat before reading: if the link is replaced in between, the next lookup sees a new version and re-reads.
      const before = version ?? (cached === undefined ? (await this.driver.stat(link)).version : undefined);
      const d = parseDigest((await this.driver.getContent(link)).toString('utf8').trim());
      if (d) {
        if (before !== undefined) this.cache.set(key, { version: before, digest: d });
        return d;
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.cache.delete(key);
    }
    throw new ManifestUnknown({ Tag: tag });
  }

  /** Points the tag at `d`. When that fails (a full disk), a tag that did not exist before is not left half made. */
  async tag(name: string, tag: string, d: Digest): Promise<void> {
    checkWrite(this.guard);
    try {
      await this.driver.putContent(tagIndexLink(name, tag, d), Buffer.from(d.value));
      await this.driver.putContent(tagCurrentLink(name, tag), Buffer.from(d.value));
    } catch (err) {
      // A tag directory without its current link would be listed by tags/list; remove it unless the tag exists.
      const exists = await this.driver.stat(tagCurrentLink(name, tag)).then(() => true, () => false);
      if (!exists) await this.driver.delete(tagDir(name, tag)).catch(() => undefined);
      throw err;
    }
  }

  async untag(name: string, tag: string): Promise<void> {
    checkDelete(this.guard);
    const unknown = () => new ManifestUnknown({ Tag: tag });
    if (!(await statOrNull(this.driver, tagCurrentLink(name, tag)))) throw unknown();
    if ((await orIfNotFound(this.driver.delete(tagDir(name, tag)), 'gone')) === 'gone') throw unknown();
  }

  /**
   * Removes the tag only when it still points at `digest` and its link was last written at `pushedAt` (ms), as a
   * scan saw it: a push of the tag since wins. Returns whether it untagged. The check and the delete are two
   * storage operations; a push landing between them (microseconds) is lost, as with Distribution's tag delete.
   */
  async untagIfUnchanged(name: string, tag: string, digest: string, pushedAt: number): Promise<boolean> {
    checkDelete(this.guard);
    try {
      if ((await this.pushedAt(name, tag))?.getTime() !== pushedAt) return false;
      if ((await this.get(name, tag)).value !== digest) return false;
      await this.untag(name, tag);
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'MANIFEST_UNKNOWN') return false;
      throw err;
    }
  }

  /** When the tag was last pointed at a manifest (its current link's modification time); null when there is no such tag. */
  async pushedAt(name: string, tag: string): Promise<Date | null> {
    return (await statOrNull(this.driver, tagCurrentLink(name, tag)))?.modTime ?? null;
  }

  /** All tag names, sorted; null when the repository has no tags directory. */
  async all(name: string): Promise<string[] | null> {
    const entries = await orIfNotFound(this.driver.list(tagsDir(name)), null);
    return entries && entries.map(basename).sort();
  }

  /** Tags whose current link points at `d`. */
  async lookup(name: string, d: Digest): Promise<string[]> {
    const tags = (await this.all(name)) ?? [];
    const out: string[] = [];
    await Promise.all(
      tags.map(async (t) => {
        try {
          if ((await this.get(name, t)).value === d.value) out.push(t);
        } catch {
          /* tag vanished meanwhile */
        }
      }),
    );
    return out.sort();
  }
}
