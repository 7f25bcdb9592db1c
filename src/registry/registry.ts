/** The registry: OCI meaning over one storage driver. Handlers talk to this, never to the driver. */
import type { StorageDriver } from '../storage/driver.js';
import { BlobStore } from './blobs.js';
import { listRepositories } from './catalog.js';
import { ManifestStore, type ValidationOptions } from './manifests.js';
import { TagStore } from './tags.js';
import { UploadStore } from './uploads.js';

export interface RegistryOptions {
  deleteEnabled: boolean;
  readOnly: boolean;
  redirect: boolean;
  validation: ValidationOptions;
}

export class Registry {
  readonly blobs: BlobStore;
  readonly uploads: UploadStore;
  readonly manifests: ManifestStore;
  readonly tags: TagStore;

  constructor(readonly driver: StorageDriver, readonly options: RegistryOptions) {
    this.blobs = new BlobStore(driver);
    this.uploads = new UploadStore(driver, this.blobs);
    this.manifests = new ManifestStore(driver, this.blobs, options.validation);
    this.tags = new TagStore(driver);
  }

  repositories(): Promise<string[]> {
    return listRepositories(this.driver);
  }
}
