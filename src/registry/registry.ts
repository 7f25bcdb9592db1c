/** The registry: OCI meaning over one storage driver, which stays private. Handlers talk to this, never to the driver. */
import type { StorageDriver } from '../storage/driver.js';
import { BlobStore } from './blobs.js';
import { InMemoryDescriptorCache, type DescriptorCache } from './cache.js';
import { RepositoryIndex } from './catalog.js';
import { LocalUploadLocks, type UploadLocks } from './locks.js';
import { ManifestStore, type ValidationOptions } from './manifests.js';
import { garbageCollect, type GcOptions, type GcReport } from './gc.js';
import { UNGUARDED, type WriteGuard } from './guard.js';
import { TagCache, TagStore, type TagChanges } from './tags.js';
import { MAX_HASH_STATES, UploadStore } from './uploads.js';
import { allRepositories } from './walk.js';

export interface RegistryOptions {
  deleteEnabled: boolean;
  readOnly: boolean;
  redirect: boolean;
  validation: ValidationOptions;
  /** `storage.cache.blobdescriptor` (default: in memory, per process). */
  cache?: DescriptorCache;
  /** One writer per upload (default: per process). */
  uploadLocks?: UploadLocks;
  /** How old the kept repository list may get before it is revalidated against storage (see catalog.ts). */
  catalogRevalidateMs?: number;
  /** How long a tag looked up for a pull is trusted (default DEFAULT_TAG_TRUST_MS, see tags.ts). */
  tagTrustMs?: number;
  /** Tag changes shared with other processes (Redis); without it, theirs are seen within tagTrustMs. */
  tagChanges?: TagChanges;
}

/** Default catalog revalidation interval: a second where it is a stat per directory (filesystem). */
export const DEFAULT_REVALIDATE_MS = 1000;

/**
 * The stores the server's own upkeep writes through (the pull-through cache filling, cache expiry, cleanup runs):
 * neither `readOnly` nor `deleteEnabled` applies, and manifests are stored unchecked (a cached manifest's blobs
 * arrive later, on demand). Client requests never use these.
 */
export interface Upkeep {
  blobs: BlobStore;
  uploads: UploadStore;
  manifests: ManifestStore;
  tags: TagStore;
}

export class Registry {
  /** The client-facing stores: they enforce `readOnly` and `deleteEnabled` (see guard.ts). */
  readonly blobs: BlobStore;
  readonly uploads: UploadStore;
  readonly manifests: ManifestStore;
  readonly tags: TagStore;
  readonly upkeep: Upkeep;
  readonly catalog: RepositoryIndex;
  /** What the registry remembers about storage; whoever deletes behind the stores' backs (cleanup) must forget. */
  readonly cache: DescriptorCache;

  constructor(
    private readonly driver: StorageDriver,
    readonly options: RegistryOptions,
  ) {
    const cache = options.cache ?? new InMemoryDescriptorCache();
    const locks = options.uploadLocks ?? new LocalUploadLocks();
    const guard: WriteGuard = { readOnly: options.readOnly, deleteEnabled: options.deleteEnabled };
    this.cache = cache;
    this.blobs = new BlobStore(driver, cache, guard);
    this.uploads = new UploadStore(driver, this.blobs, locks, MAX_HASH_STATES, guard);
    this.manifests = new ManifestStore(driver, this.blobs, options.validation, guard);
    // One tag cache for both tag stores: a tag the upkeep moves (mirror, cleanup) is seen by the next pull too.
    const tagCache = new TagCache({ trustMs: options.tagTrustMs, changes: options.tagChanges });
    this.tags = new TagStore(driver, guard, tagCache);
    const blobs = new BlobStore(driver, cache);
    this.upkeep = {
      blobs,
      uploads: new UploadStore(driver, blobs, locks),
      manifests: new ManifestStore(driver, blobs, { ...options.validation, disabled: true }),
      tags: new TagStore(driver, UNGUARDED, tagCache),
    };
    this.catalog = new RepositoryIndex(driver, options.catalogRevalidateMs ?? DEFAULT_REVALIDATE_MS);
    this.manifests.onLinked = (name) => this.catalog.added(name);
    this.upkeep.manifests.onLinked = (name) => this.catalog.added(name);
  }

  /** Stores manifests fetched by the pull-through cache (src/proxy): their blobs arrive later, on demand, so not checked. */
  get cachedManifests(): ManifestStore {
    return this.upkeep.manifests;
  }

  /**
   * Every repository, sorted (a kept list: see catalog.ts); shared, do not modify. `fresh` revalidates the list
   * against storage first (for cleanup runs, which must see what another process added a moment ago).
   */
  repositories(fresh = false): Promise<readonly string[]> {
    return fresh ? this.catalog.fresh() : this.catalog.list();
  }

  /** Every repository directory, with or without manifests (those holding only uploads or layer links too), sorted. */
  repositoryDirectories(): Promise<string[]> {
    return allRepositories(this.driver);
  }

  /** One garbage collection over this registry's storage (see gc.ts); the caller forgets what it removed from the cache. */
  collectGarbage(opts: GcOptions): Promise<GcReport> {
    return garbageCollect(this.driver, opts);
  }
}
