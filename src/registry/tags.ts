/** Tags: `_manifests/tags/<tag>/current/link` plus the tag's history under `index/`. */
import { ManifestUnknown } from './errors.js';
import { parseDigest, type Digest } from '../oci/names.js';
import { isNotFound, type StorageDriver } from '../storage/driver.js';
import { orIfNotFound, statOrNull } from '../storage/notfound.js';
import { Lru } from './lru.js';
import { checkDelete, checkWrite, UNGUARDED, type WriteGuard } from './guard.js';
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

export interface TagCacheOptions {
  /**
   * How long a looked-up tag is trusted by pulls without asking storage (`storage.cache.tagttl`, default 1 s). A
   * tag moved by another process (a replica, a direct write to storage) is served stale at most this long; with
   * `changes`, a replica's push usually arrives within milliseconds. This process's own tag writes are seen at once.
   */
  trustMs?: number;
  changes?: TagChanges;
  now?: () => number;
}

export const DEFAULT_TAG_TRUST_MS = 1000;

/**
 * `name:tag` -> the link's version and digest, and when storage last confirmed it; one per process, shared by
 * every TagStore over the same storage (the client-facing one and the upkeep one), so a change through either is
 * seen by both. Within the trust window an entry answers pulls without storage; after it, a stat (cheaper than a
 * read) confirms the version or the link is re-read. No write path trusts it: only forPull() answers from it
 * without asking storage.
 */
export class TagCache {
  readonly entries = new Lru<string, { version: string | undefined; digest: Digest; checkedAt: number }>(100_000);
  /**
   * Bumped by every change this process makes or hears of. A lookup that saw it move while it read storage does
   * not cache what it read: it may have read the link from before the change.
   */
  epoch = 0;
  readonly trustMs: number;
  readonly now: () => number;
  private readonly changes?: TagChanges;

  constructor(o: TagCacheOptions = {}) {
    this.trustMs = o.trustMs ?? DEFAULT_TAG_TRUST_MS;
    this.now = o.now ?? Date.now;
    this.changes = o.changes;
    this.changes?.subscribe((name, tag) => this.forget(name, tag));
  }

  /** Drops what is cached of `name:tag` (after a change this process made or was told of). */
  forget(name: string, tag: string): void {
    this.epoch++;
    this.entries.delete(`${name}:${tag}`);
  }

  /** This process moved or removed the tag: forget it here and tell the others. */
  changed(name: string, tag: string): void {
    this.forget(name, tag);
    this.changes?.publish(name, tag);
  }
}

export class TagStore {
  constructor(
    private readonly driver: StorageDriver,
    private readonly guard: WriteGuard = UNGUARDED,
    private readonly cache: TagCache = new TagCache(),
  ) {}

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
    const c = this.cache;
    const key = `${name}:${tag}`;
    const cached = c.entries.get(key);
    const started = c.now();
    if (trusted && cached && started - cached.checkedAt < c.trustMs) return cached.digest;
    const epoch = c.epoch;
    const link = tagCurrentLink(name, tag);
    try {
      const version = cached ? (await this.driver.stat(link)).version : undefined;
      if (cached && version !== undefined && version === cached.version) {
        if (epoch === c.epoch) cached.checkedAt = started;
        return cached.digest;
      }
      // Stat before reading: if the link is replaced in between, the next lookup sees a new version and re-reads.
      const before = version ?? (cached === undefined ? (await this.driver.stat(link)).version : undefined);
      const d = parseDigest((await this.driver.getContent(link)).toString('utf8').trim());
      if (d) {
        // Without a version (S3) the entry still serves pulls for the window; after it, it is re-read.
        if (epoch === c.epoch) c.entries.set(key, { version: before, digest: d, checkedAt: started });
        return d;
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
      c.entries.delete(key);
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
      const exists = await this.driver.stat(tagCurrentLink(name, tag)).then(
        () => true,
        () => false,
      );
      if (!exists) await this.driver.delete(tagDir(name, tag)).catch(() => undefined);
      throw err;
    } finally {
      // Before the push is answered: the next GET, here or (usually) on a replica, reads the new link.
      this.cache.changed(name, tag);
    }
  }

  async untag(name: string, tag: string): Promise<void> {
    checkDelete(this.guard);
    const unknown = () => new ManifestUnknown({ Tag: tag });
    if (!(await statOrNull(this.driver, tagCurrentLink(name, tag)))) throw unknown();
    try {
      if ((await orIfNotFound(this.driver.delete(tagDir(name, tag)), 'gone')) === 'gone') throw unknown();
    } finally {
      this.cache.changed(name, tag);
    }
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
      if (err instanceof ManifestUnknown) return false;
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
