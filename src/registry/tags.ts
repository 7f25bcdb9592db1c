/** Tags: `_manifests/tags/<tag>/current/link` plus the tag's history under `index/`. */
import { ociError } from '../oci/errors.js';
import { parseDigest, type Digest } from '../oci/names.js';
import { isNotFound, type StorageDriver } from '../storage/driver.js';
import { basename, tagCurrentLink, tagDir, tagIndexLink, tagsDir } from './paths.js';

export class TagStore {
  constructor(private readonly driver: StorageDriver) {}

  /** The digest a tag points at; throws MANIFEST_UNKNOWN (detail {Tag}) when there is no such tag. */
  async get(name: string, tag: string): Promise<Digest> {
    try {
      const d = parseDigest((await this.driver.getContent(tagCurrentLink(name, tag))).toString('utf8').trim());
      if (d) return d;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    throw ociError('MANIFEST_UNKNOWN', { Tag: tag });
  }

  async tag(name: string, tag: string, d: Digest): Promise<void> {
    await this.driver.putContent(tagIndexLink(name, tag, d), Buffer.from(d.value));
    await this.driver.putContent(tagCurrentLink(name, tag), Buffer.from(d.value));
  }

  async untag(name: string, tag: string): Promise<void> {
    try {
      await this.driver.stat(tagCurrentLink(name, tag));
      await this.driver.delete(tagDir(name, tag));
    } catch (err) {
      if (isNotFound(err)) throw ociError('MANIFEST_UNKNOWN', { Tag: tag });
      throw err;
    }
  }

  /** All tag names, sorted; null when the repository has no tags directory. */
  async all(name: string): Promise<string[] | null> {
    let entries: string[];
    try {
      entries = await this.driver.list(tagsDir(name));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    return entries.map(basename).sort();
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
