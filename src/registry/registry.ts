/** The registry: OCI meaning over one storage driver. Handlers talk to this, never to the driver. */
import type { StorageDriver } from '../storage/driver.js';
import { BlobStore } from './blobs.js';
import { InMemoryDescriptorCache, type DescriptorCache } from './cache.js';
import { listRepositories } from './catalog.js';
import { LocalUploadLocks, type UploadLocks } from './locks.js';
import { ManifestStore, type ValidationOptions } from './manifests.js';
import { TagStore } from './tags.js';
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
}

export class Registry {
  readonly blobs: BlobStore;
  readonly uploads: UploadStore;
  readonly manifests: ManifestStore;
  readonly tags: TagStore;
  /** What the registry remembers about storage; whoever deletes behind the stores' backs (cleanup) must forget. */
  readonly cache: DescriptorCache;

  constructor(readonly driver: StorageDriver, readonly options: RegistryOptions) {
    const cache = options.cache ?? new InMemoryDescriptorCache();
    this.cache = cache;
    this.blobs = new BlobStore(driver, cache);
    this.uploads = new UploadStore(driver, this.blobs, options.uploadLocks ?? new LocalUploadLocks());
    this.manifests = new ManifestStore(driver, this.blobs, options.validation, cache);
    this.tags = new TagStore(driver);
  }

  repositories(): Promise<string[]> {
    return listRepositories(this.driver);
  }
}
