/**
 * The blob descriptor cache (`storage.cache.blobdescriptor`): what the registry remembers about storage between
 * requests, so that HEAD and GET need not re-read links and stat blobs. Two kinds of facts:
 *  - the size of a blob in the global store (content-addressed: stale only once garbage collection removed it);
 *  - that a repository links a layer or a manifest (stale once deleted, possibly by another replica).
 * The cache only ever answers "known to exist"; a miss goes to storage. Write paths that must not trust it
 * (garbage collection runs in another process) read storage directly.
 *
 * Implementations: `inmemory` (here; per process) and `redis` (src/redis/; shared by replicas, so a delete on one
 * replica is seen by all). Chosen in app.ts.
 */
import { Lru } from './lru.js';

export type LinkKind = 'layer' | 'manifest';

export interface DescriptorCache {
  size(digest: string): Promise<number | undefined>;
  setSize(digest: string, size: number): Promise<void>;
  forgetSize(digest: string): Promise<void>;
  linked(kind: LinkKind, name: string, digest: string): Promise<boolean>;
  setLinked(kind: LinkKind, name: string, digest: string): Promise<void>;
  /** Must reach every process sharing the cache, or be replayed before the cache is trusted again. */
  forgetLink(kind: LinkKind, name: string, digest: string): Promise<void>;
}

export interface InMemoryCacheOptions {
  /** Entries per kind of fact (`storage.cache.blobdescriptorsize`). */
  maxEntries?: number;
  /**
   * How long a link is trusted. Nothing tells this process about a delete made by another one (another replica,
   * `wharf garbage-collect`), so a link is re-read from storage at most this long after it was cached.
   */
  linkTtlMs?: number;
  now?: () => number;
}

export const DEFAULT_LINK_TTL_MS = 15_000;

/** The per-process cache (the default): one replica behaves exactly as if the cache did not expire links. */
export class InMemoryDescriptorCache implements DescriptorCache {
  private readonly sizes: Lru<string, number>;
  /** `kind:name@digest` -> expiry time. */
  private readonly links: Lru<string, number>;
  private readonly ttl: number;
  private readonly now: () => number;

  constructor(o: InMemoryCacheOptions = {}) {
    this.sizes = new Lru(o.maxEntries ?? 100_000);
    this.links = new Lru(o.maxEntries ? o.maxEntries * 2 : 400_000);
    this.ttl = o.linkTtlMs ?? DEFAULT_LINK_TTL_MS;
    this.now = o.now ?? Date.now;
  }

  async size(digest: string): Promise<number | undefined> {
    return this.sizes.get(digest);
  }

  async setSize(digest: string, size: number): Promise<void> {
    this.sizes.set(digest, size);
  }

  async forgetSize(digest: string): Promise<void> {
    this.sizes.delete(digest);
  }

  async linked(kind: LinkKind, name: string, digest: string): Promise<boolean> {
    const key = `${kind}:${name}@${digest}`;
    const until = this.links.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.links.delete(key);
    return false;
  }

  async setLinked(kind: LinkKind, name: string, digest: string): Promise<void> {
    this.links.set(`${kind}:${name}@${digest}`, this.now() + this.ttl);
  }

  async forgetLink(kind: LinkKind, name: string, digest: string): Promise<void> {
    this.links.delete(`${kind}:${name}@${digest}`);
  }
}
