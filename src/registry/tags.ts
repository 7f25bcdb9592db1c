/** Tags: `_manifests/tags/<tag>/current/link` plus the tag's history under `index/`. */
import { ociError } from '../oci/errors.js';
import { parseDigest, type Digest } from '../oci/names.js';
import { isNotFound, type StorageDriver } from '../storage/driver.js';
import { Lru } from './lru.js';
import { basename, tagCurrentLink, tagDir, tagIndexLink, tagsDir } from './paths.js';

/**
 * How a tag change reaches the other processes sharing the storage (Redis pub/sub, src/redis/tagchanges.ts).
 * Best effort: a lost message is bounded by the trust window, never by more.
 */
export interface TagChanges {
  /** Tells the other processes that `name:tag` was moved or removed by this one. */
  publish(name: string, tag: string): void;
  /** `fn` runs for each change another process published. */
  subscribe(fn: (name: string, tag: string) => void): void;
}

export interface TagStoreOptions {
  /**
   * How long a looked-up tag is trusted without asking storage (`storage.cache.tagttl`, default 1 s). A tag moved
   * by another process (a replica, a direct write to storage) is served stale at most this long; with `changes`,
   * a replica's push usually arrives within milliseconds. This process's own tag writes are seen at once.
   */
  trustMs?: number;
  changes?: TagChanges;
  now?: () => number;
}

export const DEFAULT_TAG_TRUST_MS = 1000;

export class TagStore {
  /**
   * `name:tag` -> the link's version and digest, and when storage last confirmed it. Within the trust window an
   * entry answers without storage; after it, a stat (cheaper than a read) confirms the version or the link is
   * re-read. No write path trusts this cache: only forPull() answers from it without asking storage.
   */
  private readonly cache = new Lru<string, { version: string | undefined; digest: Digest; checkedAt: number }>(100_000);
  /**
   * Bumped by every change this process makes or hears of. A lookup that saw it move while it read storage does
   * not cache what it read: it may have read the link from before the change.
   */
  private epoch = 0;
  private readonly trustMs: number;
  private readonly now: () => number;
  private readonly changes?: TagChanges;

  constructor(private readonly driver: StorageDriver, o: TagStoreOptions = {}) {
    this.trustMs = o.trustMs ?? DEFAULT_TAG_TRUST_MS;
    this.now = o.now ?? Date.now;
    this.changes = o.changes;
    this.changes?.subscribe((name, tag) => this.forget(name, tag));
  }

  /** Drops what is cached of `name:tag` (after a change this process made or was told of). */
  forget(name: string, tag: string): void {
    this.epoch++;
    this.cache.delete(`${name}:${tag}`);
  }

  private changed(name: string, tag: string): void {
    this.forget(name, tag);
    this.changes?.publish(name, tag);
  }

  /**
   * The digest a tag points at, as storage has it now (one stat when cached); throws MANIFEST_UNKNOWN (detail
   * {Tag}) when there is no such tag. For every path that decides a write (policies, deletes, immutability).
   */
  get(name: string, tag: string): Promise<Digest> {
    return this.resolve(name, tag, false);
  }

  /**
   * The digest to answer a pull with: like get(), but an entry storage confirmed less than the trust window ago
   * answers without asking it again. Only for answering reads; never to decide a write.
   */
  forPull(name: string, tag: string): Promise<Digest> {
    return this.resolve(name, tag, true);
  }

  private async resolve(name: string, tag: string, trusted: boolean): Promise<Digest> {
    const key = `${name}:${tag}`;
    const cached = this.cache.get(key);
    const started = this.now();
    if (trusted && cached && started - cached.checkedAt < this.trustMs) return cached.digest;
    const epoch = this.epoch;
    const link = tagCurrentLink(name, tag);
    try {
      const version = cached ? (await this.driver.stat(link)).version : undefined;
      if (cached && version !== undefined && version === cached.version) {
        if (epoch === this.epoch) cached.checkedAt = started;
        return cached.digest;
      }
      // Stat before reading: if the link is replaced in between, the next lookup sees a new version and re-reads.
      const before = version ?? (cached === undefined ? (await this.driver.stat(link)).version : undefined);
      const d = parseDigest((await this.driver.getContent(link)).toString('utf8').trim());
      if (d) {
        // Without a version (S3) the entry still serves pulls for the window; after it, it is re-read.
        if (epoch === this.epoch) this.cache.set(key, { version: before, digest: d, checkedAt: started });
        return d;
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.cache.delete(key);
    }
    throw ociError('MANIFEST_UNKNOWN', { Tag: tag });
  }

  /** Points the tag at `d`. When that fails (a full disk), a tag that did not exist before is not left half made. */
  async tag(name: string, tag: string, d: Digest): Promise<void> {
    try {
      await this.driver.putContent(tagIndexLink(name, tag, d), Buffer.from(d.value));
      await this.driver.putContent(tagCurrentLink(name, tag), Buffer.from(d.value));
    } catch (err) {
      // A tag directory without its current link would be listed by tags/list; remove it unless the tag exists.
      const exists = await this.driver.stat(tagCurrentLink(name, tag)).then(() => true, () => false);
      if (!exists) await this.driver.delete(tagDir(name, tag)).catch(() => undefined);
      throw err;
    } finally {
      // Before the push is answered: the next GET, here or (usually) on a replica, reads the new link.
      this.changed(name, tag);
    }
  }

  async untag(name: string, tag: string): Promise<void> {
    try {
      await this.driver.stat(tagCurrentLink(name, tag));
    } catch (err) {
      if (isNotFound(err)) throw ociError('MANIFEST_UNKNOWN', { Tag: tag });
      throw err;
    }
    try {
      await this.driver.delete(tagDir(name, tag));
    } catch (err) {
      if (isNotFound(err)) throw ociError('MANIFEST_UNKNOWN', { Tag: tag });
      throw err;
    } finally {
      this.changed(name, tag);
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
