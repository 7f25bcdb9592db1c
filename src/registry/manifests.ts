/**
 * Manifests: stored as blobs in the global store, linked into a repository by `_manifests/revisions`.
 * Put validates structure and that every referenced blob (and index child, per `validation`) exists.
 */
import { createHash } from 'node:crypto';
import {
  DigestInvalid,
  ManifestBlobUnknown,
  ManifestInvalid,
  ManifestUnknown,
  ManifestVerificationError,
  type RegistryError,
} from './errors.js';
import {
  artifactTypeOf,
  parseManifest,
  referencedBlobs,
  type Descriptor,
  type ParsedManifest,
} from '../oci/manifest.js';
import { DIGEST_ALGORITHMS, parseDigest, type Digest } from '../oci/names.js';
import type { StorageDriver } from '../storage/driver.js';
import { listOrEmpty, orIfNotFound, statOrNull } from '../storage/notfound.js';
import type { BlobStore } from './blobs.js';
import { Lru } from './lru.js';
import { checkDelete, checkWrite, UNGUARDED, type WriteGuard } from './guard.js';
import { basename, revisionLink, revisionsDir } from './paths.js';

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface StoredManifest {
  digest: Digest;
  bytes: Buffer;
  /** The media type the manifest declares (or is detected as); served as Content-Type. */
  mediaType: string;
  parsed: ParsedManifest;
}

export interface ValidationOptions {
  disabled: boolean;
  urls: { allow: RegExp[]; deny: RegExp[] };
  indexes: { platforms: 'all' | 'none' | 'list'; platformlist: Array<{ architecture: string; os: string }> };
}

export class ManifestStore {
  /** digest -> stored manifest (content-addressed: never stale). Bounded by bytes. */
  private readonly cache = new Lru<string, StoredManifest>(64 * 1024 * 1024, (m) => m.bytes.length + 512);

  /** Called after a manifest was linked into repository `name` (the catalog learns of new repositories so). */
  onLinked: (name: string) => void = () => {};

  /** Revision links go through the blob store's LinkStore (links.ts), shared with layer links; content stays in this process. */
  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
    private readonly validation: ValidationOptions,
    private readonly guard: WriteGuard = UNGUARDED,
  ) {}

  /** Whether the repository links the manifest; `fresh` skips the cache (garbage collection may have unlinked it). */
  isLinked(name: string, d: Digest, fresh = false): Promise<boolean> {
    return this.blobs.links.isLinked('manifest', name, d, fresh);
  }

  /** The manifest as seen from repository `name`; throws MANIFEST_UNKNOWN. */
  async get(name: string, d: Digest): Promise<StoredManifest> {
    if (!(await this.isLinked(name, d))) throw new ManifestUnknown({ Name: name, Revision: d.value });
    const m = await this.load(d);
    if (!m) throw new ManifestUnknown({ Name: name, Revision: d.value });
    return m;
  }

  /** Reads and parses a manifest blob from the global store; null when missing or unparseable. */
  async load(d: Digest): Promise<StoredManifest | null> {
    const cached = this.cache.get(d.value);
    if (cached) return cached;
    const bytes = await orIfNotFound(this.blobs.getSmall(d), null);
    if (!bytes) return null;
    let parsed: ParsedManifest;
    try {
      parsed = parseManifest(bytes, undefined);
    } catch {
      return null;
    }
    const m: StoredManifest = { digest: d, bytes, mediaType: parsed.mediaType, parsed };
    this.cache.set(d.value, m);
    return m;
  }

  /**
   * Validates and stores `bytes`. `expected` is the digest the client addressed it by, if any.
   * Returns the stored manifest; the caller tags it.
   */
  async put(name: string, bytes: Buffer, contentType: string | undefined, expected?: Digest): Promise<StoredManifest> {
    checkWrite(this.guard);
    const parsed = parseManifest(bytes, contentType);
    const algorithm = expected?.algorithm ?? 'sha256';
    const hex = createHash(algorithm).update(bytes).digest('hex');
    const digest = parseDigest(`${algorithm}:${hex}`)!;
    if (expected && expected.hex !== hex) throw new DigestInvalid(expected.value);
    if (!this.validation.disabled) await this.verify(name, parsed);
    await this.blobs.putSmall(digest, bytes);
    await this.blobs.links.link('manifest', name, digest);
    this.onLinked(name);
    const m: StoredManifest = { digest, bytes, mediaType: parsed.mediaType, parsed };
    this.cache.set(digest.value, m);
    return m;
  }

  private async verify(name: string, parsed: ParsedManifest): Promise<void> {
    const errors: RegistryError[] = [];
    if (parsed.kind === 'image') {
      for (const layer of parsed.body.layers) {
        if (layer.urls && layer.urls.length > 0) this.checkUrls(layer);
      }
      const missing = await Promise.all(
        referencedBlobs(parsed).map(async (desc) => {
          const d = parseDigest(desc.digest)!;
          // Uncached: a blob garbage-collected by another process must not be referenced by a new manifest.
          const [linked, size] = await Promise.all([
            this.blobs.isLinked(name, d, true),
            this.blobs.globalSize(d, true),
          ]);
          return linked && size !== null ? null : desc.digest;
        }),
      );
      for (const digest of missing) if (digest !== null) errors.push(new ManifestBlobUnknown(digest));
    } else {
      for (const child of parsed.body.manifests) {
        if (!this.mustExist(child)) continue;
        const d = parseDigest(child.digest)!;
        if (!(await this.isLinked(name, d, true))) errors.push(new ManifestBlobUnknown(child.digest));
      }
    }
    if (errors.length > 0) throw new ManifestVerificationError(errors);
  }

  private checkUrls(layer: Descriptor): void {
    const { allow, deny } = this.validation.urls;
    for (const u of layer.urls ?? []) {
      let ok = false;
      try {
        const url = new URL(u);
        ok =
          (url.protocol === 'http:' || url.protocol === 'https:') &&
          allow.some((r) => r.test(u)) &&
          !deny.some((r) => r.test(u));
      } catch {
        ok = false;
      }
      if (!ok) throw new ManifestInvalid({ url: u }, 'layer URL is not allowed by validation.manifests.urls');
    }
  }

  private mustExist(child: Descriptor): boolean {
    const { platforms, platformlist } = this.validation.indexes;
    if (platforms === 'none') return false;
    if (platforms === 'all') return true;
    const p = child.platform;
    return !!p && platformlist.some((x) => x.architecture === p.architecture && x.os === p.os);
  }

  /** Unlinks the manifest from the repository (the blob stays for garbage collection); MANIFEST_UNKNOWN without detail, as Distribution answers. */
  async delete(name: string, d: Digest): Promise<void> {
    checkDelete(this.guard);
    if (!(await this.blobs.links.unlink('manifest', name, d))) throw new ManifestUnknown();
  }

  /** When the manifest was linked into the repository (its revision link's modification time); null when it is not. */
  async linkedAt(name: string, d: Digest): Promise<Date | null> {
    return (await statOrNull(this.driver, revisionLink(name, d)))?.modTime ?? null;
  }

  /** Digests of every manifest linked in the repository. */
  async revisions(name: string): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const algorithm of Object.keys(DIGEST_ALGORITHMS)) {
      for (const e of await listOrEmpty(this.driver, revisionsDir(name, algorithm))) {
        const d = parseDigest(`${algorithm}:${basename(e)}`);
        if (d) out.push(d);
      }
    }
    return out;
  }

  /** The referrers index of `subject` in repository `name`, optionally filtered by artifact type. */
  async referrers(name: string, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    const revisions = await this.revisions(name);
    await Promise.all(
      revisions.map(async (d) => {
        const m = await this.load(d);
        if (!m || m.parsed.body.subject?.digest !== subject.value) return;
        const type = artifactTypeOf(m.parsed);
        if (artifactType !== undefined && type !== artifactType) return;
        const desc: Descriptor = { mediaType: m.mediaType, digest: d.value, size: m.bytes.length };
        if (type !== undefined) desc.artifactType = type;
        if (m.parsed.body.annotations) desc.annotations = m.parsed.body.annotations;
        out.push(desc);
      }),
    );
    return out.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  }
}

export { ManifestVerificationError } from './errors.js';
