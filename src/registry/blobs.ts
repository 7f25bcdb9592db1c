/**
 * Blobs: the global content-addressed store and each repository's links to it (`_layers`).
 * A blob is visible in a repository only through its link; the data file appears only complete.
 */
import type { Readable } from 'node:stream';
import { BlobUnknown } from './errors.js';
import type { Digest } from '../oci/names.js';
import { isNotFound, type ReadHandle, type StorageDriver } from '../storage/driver.js';
import { statOrNull } from '../storage/notfound.js';
import { InMemoryDescriptorCache, type DescriptorCache } from './cache.js';
import { checkDelete, checkWrite, UNGUARDED, type WriteGuard } from './guard.js';
import { LinkStore } from './links.js';
import { blobData } from './paths.js';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

export class BlobStore {
  /** Blob sizes and `_layers` links known to exist (see cache.ts). */
  constructor(
    private readonly driver: StorageDriver,
    private readonly cache: DescriptorCache = new InMemoryDescriptorCache(),
    private readonly guard: WriteGuard = UNGUARDED,
  ) {
    this.links = new LinkStore(driver, cache);
  }

  /** The repositories' `_layers` links; ManifestStore shares it for revision links. */
  readonly links: LinkStore;

  /**
   * Size of the blob in the global store, or null when absent. `fresh` skips the cache: write paths use it,
   * because garbage collection (another process) may have removed a blob this cache still remembers.
   */
  async globalSize(d: Digest, fresh = false): Promise<number | null> {
    const cached = fresh ? undefined : await this.cache.size(d.value);
    if (cached !== undefined) return cached;
    const st = await statOrNull(this.driver, blobData(d));
    if (!st || st.isDir) return null;
    await this.cache.setSize(d.value, st.size);
    return st.size;
  }

  /**
   * Whether the repository links the blob. `fresh` skips the cache (see globalSize) and checks only that a link
   * of the digest's length is there: links are written whole (or, by Distribution, nearly so), and a stat is a
   * quarter of the calls of a read.
   */
  isLinked(name: string, d: Digest, fresh = false): Promise<boolean> {
    return this.links.isLinked('layer', name, d, fresh);
  }

  /** The blob as seen from repository `name`; throws BLOB_UNKNOWN when not linked there or missing. */
  async stat(name: string, d: Digest): Promise<BlobInfo> {
    if (await this.isLinked(name, d)) {
      const size = await this.globalSize(d);
      if (size !== null) return { digest: d, size };
    }
    throw new BlobUnknown(d.value);
  }

  async open(d: Digest, start: number, end: number): Promise<Readable> {
    return this.unknownIfMissing(d, () => this.driver.reader(blobData(d), start, end));
  }

  /** The blob opened for positional reads; null when the driver cannot (then use open()). */
  async openHandle(d: Digest): Promise<ReadHandle | null> {
    if (!this.driver.openRead) return null;
    return this.unknownIfMissing(d, () => this.driver.openRead!(blobData(d)));
  }

  /** A missing data file is BLOB_UNKNOWN, and its cached size is forgotten (garbage collection removed it). */
  private async unknownIfMissing<T>(d: Digest, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isNotFound(err)) {
        await this.cache.forgetSize(d.value);
        throw new BlobUnknown(d.value);
      }
      throw err;
    }
  }

  async redirectURL(method: 'GET' | 'HEAD', d: Digest): Promise<string | null> {
    return this.driver.redirectURL(method, blobData(d));
  }

  /** The data file of `d` in the global store (size and modification time), or null when absent. Uncached. */
  async stored(d: Digest): Promise<{ size: number; modTime: Date } | null> {
    return statOrNull(this.driver, blobData(d));
  }

  async link(name: string, d: Digest): Promise<void> {
    checkWrite(this.guard);
    await this.links.link('layer', name, d);
  }

  /**
   * Removes the repository's link (the data stays for garbage collection). BLOB_UNKNOWN when not linked, which
   * includes the empty `_layers/<alg>/<hex>/` directory Distribution leaves behind when it deletes a blob.
   */
  async unlink(name: string, d: Digest): Promise<void> {
    checkDelete(this.guard);
    if (!(await this.links.unlink('layer', name, d))) throw new BlobUnknown(d.value);
  }

  /** Moves a verified file into the global store; an existing blob with the same digest is kept as is. */
  async commit(from: string, d: Digest, size: number): Promise<void> {
    if ((await this.globalSize(d, true)) === null) await this.driver.move(from, blobData(d));
    else await this.driver.delete(from).catch(() => undefined);
    await this.cache.setSize(d.value, size);
  }

  /** Stores small content (a manifest) in the global store. */
  async putSmall(d: Digest, data: Buffer): Promise<void> {
    if ((await this.globalSize(d, true)) === null) await this.driver.putContent(blobData(d), data);
    await this.cache.setSize(d.value, data.length);
  }

  async getSmall(d: Digest): Promise<Buffer> {
    return this.driver.getContent(blobData(d));
  }

  async forget(d: Digest): Promise<void> {
    await this.cache.forgetSize(d.value);
  }
}
