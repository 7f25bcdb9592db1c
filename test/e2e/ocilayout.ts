/**
 * Builds and reads OCI image layouts (image-spec `image-layout.md`) on disk, so that real clients such as skopeo
 * can copy images built by the tests themselves: `oci-layout`, `index.json` and `blobs/sha256/<hex>`.
 * Layers are real gzipped tars made from a hand-written ustar header; configs carry matching `diff_ids`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Platform {
  os: string;
  architecture: string;
}

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Buffer;
}

export interface BuiltImage {
  platform: Platform;
  manifest: Blob;
  config: Blob;
  layers: Blob[];
}

export interface BuiltIndex {
  index: Blob;
  images: BuiltImage[];
}

export function sha256hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** A POSIX ustar archive of regular files (names under 100 bytes), ending with two zero blocks. */
export function tar(files: Record<string, Buffer | string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
    const h = Buffer.alloc(512);
    h.write(name, 0, 100, 'utf8');
    h.write(octal(0o644, 8), 100);
    h.write(octal(0, 8), 108);
    h.write(octal(0, 8), 116);
    h.write(octal(data.length, 12), 124);
    h.write(octal(0, 12), 136);
    h.write(' '.repeat(8), 148);
    h.write('0', 156);
    h.write('ustar\u000000', 257);
    h.write('root', 265);
    h.write('root', 297);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(octal(sum, 7) + ' ', 148);
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** An OCI image layout directory being written. Every blob is written once, under its digest. */
export class OciLayout {
  private readonly refs: Array<{ tag: string; blob: Blob }> = [];

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    this.writeIndex();
  }

  addBlob(bytes: Buffer, mediaType: string): Blob {
    const hex = sha256hex(bytes);
    writeFileSync(join(this.dir, 'blobs', 'sha256', hex), bytes);
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length, bytes };
  }

  /** An image with one gzipped layer (plus `extraLayers` more), all contents derived from `seed`. */
  image(seed: string, platform: Platform = { os: 'linux', architecture: 'amd64' }, extraLayers = 0): BuiltImage {
    const layers: Blob[] = [];
    const diffIds: string[] = [];
    for (let i = 0; i <= extraLayers; i++) {
      const raw = tar({
        [`etc/wharf-${seed}-${i}.txt`]:
          `seed=${seed} layer=${i} platform=${platform.os}/${platform.architecture}\n`.repeat(20),
      });
      diffIds.push(`sha256:${sha256hex(raw)}`);
      layers.push(this.addBlob(gzipSync(raw), MT.ociLayer));
    }
    const configJson = {
      architecture: platform.architecture,
      os: platform.os,
      created: '2024-01-01T00:00:00Z',
      config: { Env: ['PATH=/usr/bin:/bin'], Labels: { seed } },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: `wharf e2e ${seed}` })),
    };
    const config = this.addBlob(Buffer.from(JSON.stringify(configJson)), MT.ociConfig);
    const manifestJson = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      annotations: { 'org.opencontainers.image.title': `wharf-e2e-${seed}` },
    };
    const manifest = this.addBlob(Buffer.from(JSON.stringify(manifestJson, null, 2)), MT.ociManifest);
    return { platform, manifest, config, layers };
  }

  /** An image index over `images`, each child with its platform. */
  index(images: BuiltImage[]): BuiltIndex {
    const body = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: images.map((img) => ({
        mediaType: img.manifest.mediaType,
        digest: img.manifest.digest,
        size: img.manifest.size,
        platform: img.platform,
      })),
    };
    return { index: this.addBlob(Buffer.from(JSON.stringify(body)), MT.ociIndex), images };
  }

  /** Names `blob` (a manifest or an index) `tag` in index.json, replacing an earlier entry of that name. */
  tag(tag: string, blob: Blob): void {
    const i = this.refs.findIndex((r) => r.tag === tag);
    if (i >= 0) this.refs.splice(i, 1);
    this.refs.push({ tag, blob });
    this.writeIndex();
  }

  private writeIndex(): void {
    const body = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: this.refs.map(({ tag, blob }) => ({
        mediaType: blob.mediaType,
        digest: blob.digest,
        size: blob.size,
        annotations: { [REF_NAME]: tag },
      })),
    };
    writeFileSync(join(this.dir, 'index.json'), JSON.stringify(body));
  }
}

/** A layout written by someone else (e.g. `skopeo copy ... oci:<dir>`), read back. */
export class LayoutReader {
  constructor(readonly dir: string) {}

  /** The descriptor index.json names `tag`; throws when absent. */
  ref(tag: string): { mediaType: string; digest: string; size: number } {
    const index = JSON.parse(readFileSync(join(this.dir, 'index.json'), 'utf8')) as {
      manifests: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }>;
    };
    const d = index.manifests.find((m) => m.annotations?.[REF_NAME] === tag);
    if (!d) throw new Error(`no ${tag} in ${this.dir}/index.json: ${JSON.stringify(index)}`);
    return d;
  }

  /** A blob's bytes; also checks that they hash to the digest they are stored under. */
  blob(digest: string): Buffer {
    const [alg, hex] = digest.split(':');
    const bytes = readFileSync(join(this.dir, 'blobs', alg, hex));
    const actual = `sha256:${sha256hex(bytes)}`;
    if (actual !== digest) throw new Error(`blob ${digest} in ${this.dir} hashes to ${actual}`);
    return bytes;
  }
}
