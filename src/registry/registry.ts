/** The registry: OCI meaning over one storage driver. Handlers talk to this, never to the driver. */
import type { StorageDriver } from '../storage/driver.js';
import { BlobStore } from './blobs.js';
import { InMemoryDescriptorCache, type DescriptorCache } from './cache.js';
import { RepositoryIndex } from './catalog.js';
import { LocalUploadLocks, type UploadLocks } from './locks.js';
import { ManifestStore, type ValidationOptions } from './manifests.js';
import { TagStore, type TagChanges } from './tags.js';
import { UploadStore } from './uploads.js';

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
  /** How long a tag looked up for a pull is trusted (default DEFAULT_TAG_TRUST_MS). */
  tagTrustMs?: number;
  /** Tag changes shared with other processes (Redis); without it, theirs are seen within tagTrustMs. */
  tagChanges?: TagChanges;
}

/** Default catalog revalidation interval: a second where it is a stat per directory (filesystem). */
export const DEFAULT_REVALIDATE_MS = 1000;

export class Registry {
  readonly blobs: BlobStore;
  readonly uploads: UploadStore;
  readonly manifests: ManifestStore;
  readonly tags: TagStore;
  /** Stores manifests fetched by the pull-through cache (src/proxy): their blobs arrive later, on demand, so not checked. */
  readonly cachedManifests: ManifestStore;
  readonly catalog: RepositoryIndex;
  /** What the registry remembers about storage; whoever deletes behind the stores' backs (cleanup) must forget. */
  readonly cache: DescriptorCache;

  constructor(readonly driver: StorageDriver, readonly options: RegistryOptions) {
    const cache = options.cache ?? new InMemoryDescriptorCache();
    this.cache = cache;
    this.blobs = new BlobStore(driver, cache);
    this.uploads = new UploadStore(driver, this.blobs, options.uploadLocks ?? new LocalUploadLocks());
    this.manifests = new ManifestStore(driver, this.blobs, options.validation, cache);
    this.tags = new TagStore(driver, { trustMs: options.tagTrustMs, changes: options.tagChanges });
    this.cachedManifests = new ManifestStore(driver, this.blobs, { ...options.validation, disabled: true }, cache);
    this.catalog = new RepositoryIndex(driver, options.catalogRevalidateMs ?? DEFAULT_REVALIDATE_MS);
    this.manifests.onLinked = (name) => this.catalog.added(name);
    this.cachedManifests.onLinked = (name) => this.catalog.added(name);
  }

  /**
   * Every repository, sorted (a kept list: see catalog.ts); shared, do not modify. `fresh` revalidates the list
   * against storage first (for cleanup runs, which must see what another process added a moment ago).
   */
  repositories(fresh = false): Promise<readonly string[]> {
    return fresh ? this.catalog.fresh() : this.catalog.list();
  }
}
