/**
 * The `s3` driver (Distribution's keys), on @aws-sdk/client-s3. Objects live at `rootdirectory + path` without
 * the leading slash, exactly where Distribution's S3 driver puts them, so a bucket written by either is served
 * by the other.
 *
 * Appends (upload sessions) cannot modify an S3 object, so an appended file is a series of segment objects
 * `<key>.seg/<16-digit offset>`, each written by one append (streamed, multipart when large; aborted on failure,
 * so appends are all or nothing). Segments are readable, so any replica can continue or re-hash an upload.
 * Moving a segmented file into place assembles it server-side with UploadPartCopy; segments smaller than S3's
 * 5 MiB minimum part size are read through and re-uploaded (bounded by that minimum): s3transfer.ts.
 */
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Readable } from 'node:stream';
import { clientConfig, isMissing, objectParams, type S3Options } from './s3client.js';
import { assemble, streamObject, type S3Access } from './s3transfer.js';
import {
  InvalidOffsetError,
  PathNotFoundError,
  StorageFullError,
  StorageUnavailableError,
  type FileInfo,
  type StorageDriver,
} from './driver.js';

const MAX_COPY = 5 * 1024 * 1024 * 1024;
const SEG = '.seg/';

export type { S3Options, S3Tuning } from './s3client.js';

interface Segment {
  key: string;
  offset: number;
  size: number;
  modTime: Date;
}

export class S3Driver implements StorageDriver {
  readonly name = 's3';
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly root: string;
  private readonly copyThreshold: number;
  private readonly redirectExpiry: number;
  /** What the multipart transfers (s3transfer.ts) use of this driver. */
  private readonly access: S3Access;

  constructor(o: S3Options) {
    this.bucket = o.bucket;
    this.root = o.rootdirectory.replace(/^\/+|\/+$/g, '');
    this.copyThreshold = o.multipartcopythresholdsize;
    this.redirectExpiry = o.redirectexpiry ?? 20 * 60_000;
    this.client = new S3Client(clientConfig(o));
    this.access = {
      client: this.client,
      bucket: this.bucket,
      objectParams: objectParams(o),
      chunkSize: o.chunksize,
      copyChunk: o.multipartcopychunksize,
      copyConcurrency: o.multipartcopymaxconcurrency,
      write: (path, fn) => this.write(path, fn),
      getRange: (path, key, start, end) => this.getRange(path, key, start, end),
    };
  }

  private key(path: string): string {
    const p = path.replace(/^\/+/, '');
    return this.root ? (p ? `${this.root}/${p}` : this.root) : p;
  }

  private segPrefix(path: string): string {
    return `${this.key(path)}${SEG}`;
  }

  /**
   * Runs an S3 call; 404s become PathNotFoundError, failures that survived the SDK's retries StorageUnavailableError.
   * A write refused for quota (507, QuotaExceeded) or permission (403: a bucket policy or a read-only user)
   * becomes StorageFullError, as a full disk does on the filesystem driver.
   */
  private async call<T>(path: string, fn: () => Promise<T>, write = false): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isMissing(err)) throw new PathNotFoundError(path);
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const code = (err as { name?: string; Code?: string }).Code ?? (err as Error).name;
      if (status === 507 || code === 'QuotaExceeded' || code === 'InsufficientStorage')
        throw new StorageFullError(this.name, err, 'full');
      if (write && status === 403) throw new StorageFullError(this.name, err, 'readonly');
      if (status === undefined || status >= 500 || (err as Error).name === 'TimeoutError')
        throw new StorageUnavailableError(this.name, err);
      throw err;
    }
  }

  /** A call that writes (see call). */
  private write<T>(path: string, fn: () => Promise<T>): Promise<T> {
    return this.call(path, fn, true);
  }

  private async listAll(
    prefix: string,
    delimiter?: string,
  ): Promise<{ objects: Array<{ key: string; size: number; modTime: Date }>; prefixes: string[] }> {
    const objects: Array<{ key: string; size: number; modTime: Date }> = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.call(prefix, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            Delimiter: delimiter,
            ContinuationToken: token,
            MaxKeys: 1000,
          }),
        ),
      );
      for (const o of r.Contents ?? [])
        objects.push({ key: o.Key!, size: o.Size ?? 0, modTime: o.LastModified ?? new Date(0) });
      for (const p of r.CommonPrefixes ?? []) prefixes.push(p.Prefix!);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return { objects, prefixes };
  }

  private async segments(path: string): Promise<Segment[]> {
    const prefix = this.segPrefix(path);
    const { objects } = await this.listAll(prefix);
    return objects
      .map((o) => ({ key: o.key, offset: Number(o.key.slice(prefix.length)), size: o.size, modTime: o.modTime }))
      .filter((s) => Number.isSafeInteger(s.offset))
      .sort((a, b) => a.offset - b.offset);
  }

  private async head(path: string): Promise<{ size: number; modTime: Date; etag?: string } | null> {
    try {
      const h = await this.call(path, () =>
        this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(path) })),
      );
      return { size: h.ContentLength ?? 0, modTime: h.LastModified ?? new Date(0), etag: h.ETag };
    } catch (err) {
      if (err instanceof PathNotFoundError) return null;
      throw err;
    }
  }

  /** One GetObject of the whole object (atomic against a concurrent replace); segmented files are concatenated. */
  async getContent(path: string): Promise<Buffer> {
    let body: Readable | null = null;
    try {
      const r = await this.call(path, () =>
        this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) })),
      );
      body = r.Body as Readable;
    } catch (err) {
      if (!(err instanceof PathNotFoundError)) throw err;
    }
    const parts: Buffer[] = [];
    for await (const chunk of body ?? (await this.reader(path, 0))) parts.push(chunk as Buffer);
    return Buffer.concat(parts);
  }

  async putContent(path: string, data: Buffer): Promise<void> {
    await this.write(path, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(path),
          Body: data,
          ContentLength: data.length,
          ...this.access.objectParams,
        }),
      ),
    );
  }

  /** A ranged GET; with `etag`, only of that version of the object (a replaced object answers 412). */
  private async getRange(
    path: string,
    key: string,
    start: number,
    endExclusive: number,
    etag?: string,
  ): Promise<Readable> {
    if (endExclusive <= start) return Readable.from([]);
    const r = await this.call(path, () =>
      this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: `bytes=${start}-${endExclusive - 1}`,
          IfMatch: etag,
        }),
      ),
    );
    return r.Body as Readable;
  }

  async reader(path: string, offset = 0, end?: number, attempt = 0): Promise<Readable> {
    const plain = await this.head(path);
    if (plain) {
      if (offset > plain.size) throw new InvalidOffsetError(path, offset);
      try {
        return await this.getRange(path, this.key(path), offset, Math.min(end ?? plain.size, plain.size), plain.etag);
      } catch (err) {
        // Replaced between HEAD and GET: read the new version instead of a mix of both.
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412 && attempt < 3)
          return this.reader(path, offset, end, attempt + 1);
        throw err;
      }
    }
    const segs = await this.segments(path);
    if (segs.length === 0) throw new PathNotFoundError(path);
    const size = segs.reduce((n, s) => n + s.size, 0);
    if (offset > size) throw new InvalidOffsetError(path, offset);
    const stop = Math.min(end ?? size, size);
    const wanted = segs.filter((s) => s.offset + s.size > offset && s.offset < stop);
    const range = (key: string, from: number, to: number) => this.getRange(path, key, from, to);
    return Readable.from(
      (async function* () {
        for (const s of wanted) {
          const from = Math.max(0, offset - s.offset);
          const to = Math.min(s.size, stop - s.offset);
          for await (const chunk of await range(s.key, from, to)) yield chunk as Buffer;
        }
      })(),
    );
  }

  async append(path: string, source: AsyncIterable<Buffer>): Promise<number> {
    let size = 0;
    const plain = await this.head(path);
    const firstSeg = `${this.segPrefix(path)}${'0'.padStart(16, '0')}`;
    if (plain) {
      // A plain object (e.g. an empty file made by putContent) becomes the first segment. It stays in place until
      // the appended segment is written, so a concurrent stat or read (another replica) sees the old size and
      // content throughout, never a missing file.
      if (plain.size > 0) await this.copyObject(path, this.key(path), firstSeg, plain.size);
      size = plain.size;
    } else {
      size = (await this.segments(path)).reduce((n, s) => n + s.size, 0);
    }
    const segKey = `${this.segPrefix(path)}${String(size).padStart(16, '0')}`;
    let written: number;
    try {
      written = await streamObject(this.access, path, segKey, source);
    } catch (err) {
      if (plain && plain.size > 0) await this.deleteKeys(path, [firstSeg]).catch(() => undefined);
      throw err;
    }
    if (written === 0 && size > 0) await this.deleteKeys(path, [segKey]);
    if (plain) {
      // An empty append to an empty plain file must leave a file: keep the plain object then.
      if (written > 0 || plain.size > 0) await this.deleteKeys(path, [this.key(path)]);
      else await this.deleteKeys(path, [segKey]);
    }
    return size + written;
  }

  async stat(path: string): Promise<FileInfo> {
    const plain = await this.head(path);
    if (plain) return { path, size: plain.size, modTime: plain.modTime, isDir: false };
    const segs = await this.segments(path);
    if (segs.length > 0)
      return { path, size: segs.reduce((n, s) => n + s.size, 0), modTime: segs[segs.length - 1].modTime, isDir: false };
    const prefix = path === '/' ? (this.root ? `${this.root}/` : '') : `${this.key(path)}/`;
    const r = await this.call(path, () =>
      this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: 1 })),
    );
    if ((r.KeyCount ?? 0) > 0) return { path, size: 0, modTime: new Date(0), isDir: true };
    throw new PathNotFoundError(path);
  }

  async list(path: string): Promise<string[]> {
    const prefix = path === '/' ? (this.root ? `${this.root}/` : '') : `${this.key(path)}/`;
    const { objects, prefixes } = await this.listAll(prefix, '/');
    const base = path === '/' ? '' : path;
    const names = new Set<string>();
    for (const o of objects) names.add(o.key.slice(prefix.length));
    for (const p of prefixes) {
      const n = p.slice(prefix.length, -1);
      names.add(n.endsWith(SEG.slice(0, -1)) ? n.slice(0, -(SEG.length - 1)) : n);
    }
    if (names.size === 0 && path !== '/') throw new PathNotFoundError(path);
    return [...names].filter((n) => n !== '').map((n) => `${base}/${n}`);
  }

  /** Server-side copy of one object, multipart above the threshold. */
  private async copyObject(path: string, from: string, to: string, size: number): Promise<void> {
    if (size <= Math.min(this.copyThreshold, MAX_COPY)) {
      await this.write(path, () =>
        this.client.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: to,
            CopySource: `${this.bucket}/${encodeURIComponent(from).replace(/%2F/g, '/')}`,
            ...this.access.objectParams,
          }),
        ),
      );
      return;
    }
    await assemble(this.access, path, to, [{ key: from, size }]);
  }

  async move(src: string, dst: string): Promise<void> {
    const plain = await this.head(src);
    if (plain) {
      await this.copyObject(src, this.key(src), this.key(dst), plain.size);
      await this.deleteKeys(src, [this.key(src)]);
      return;
    }
    const segs = await this.segments(src);
    if (segs.length === 0) throw new PathNotFoundError(src);
    const total = segs.reduce((n, s) => n + s.size, 0);
    if (total === 0) await this.putContent(dst, Buffer.alloc(0));
    else if (segs.length === 1) await this.copyObject(src, segs[0].key, this.key(dst), segs[0].size);
    else
      await assemble(
        this.access,
        src,
        this.key(dst),
        segs.filter((s) => s.size > 0),
      );
    await this.deleteKeys(
      src,
      segs.map((s) => s.key),
    );
  }

  private async deleteKeys(path: string, keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      await this.write(path, () =>
        this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        ),
      );
    }
  }

  async delete(path: string): Promise<void> {
    const key = this.key(path);
    const keys: string[] = [];
    if (await this.head(path)) keys.push(key);
    const { objects } = await this.listAll(`${key}/`);
    keys.push(...objects.map((o) => o.key));
    keys.push(...(await this.segments(path)).map((s) => s.key));
    if (keys.length === 0) throw new PathNotFoundError(path);
    await this.deleteKeys(path, keys);
  }

  async redirectURL(method: 'GET' | 'HEAD', path: string): Promise<string | null> {
    const Cmd = method === 'HEAD' ? HeadObjectCommand : GetObjectCommand;
    return getSignedUrl(this.client, new Cmd({ Bucket: this.bucket, Key: this.key(path) }), {
      expiresIn: Math.floor(this.redirectExpiry / 1000),
    });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
