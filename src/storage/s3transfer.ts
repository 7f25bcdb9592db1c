/**
 * The S3 driver's multipart transfers: streaming an append into one object, and assembling an object from the
 * parts of others server-side (UploadPartCopy, small parts read through). Both abort their multipart upload on
 * any failure, so nothing partial is ever stored.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type ObjectCannedACL,
  type S3Client,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { planParts } from './s3parts.js';

/** What the transfers need of the driver: made once by S3Driver. */
export interface S3Access {
  readonly client: S3Client;
  readonly bucket: string;
  /** What every object write carries: storage class, ACL, server-side encryption. */
  readonly objectParams: {
    StorageClass?: StorageClass;
    ACL?: ObjectCannedACL;
    ServerSideEncryption?: 'AES256' | 'aws:kms';
    SSEKMSKeyId?: string;
  };
  readonly chunkSize: number;
  readonly copyChunk: number;
  readonly copyConcurrency: number;
  /** Runs a writing call, translating its errors as every driver call does. */
  write<T>(path: string, fn: () => Promise<T>): Promise<T>;
  /** A ranged read of `key`. */
  getRange(path: string, key: string, start: number, endExclusive: number): Promise<Readable>;
}

/**
 * Streams `source` into object `key`: one PutObject when it fits in a part, else a multipart upload whose parts
 * are uploaded while the next is read (at most two parts in memory). On any failure the multipart upload is
 * aborted, nothing is stored, and the source's own error (if it failed) is rethrown.
 */
export async function streamObject(
  s: S3Access,
  path: string,
  key: string,
  source: AsyncIterable<Buffer>,
): Promise<number> {
  let uploadId: string | undefined;
  const parts: Array<{ ETag: string; PartNumber: number }> = [];
  let inFlight: Promise<void> | null = null;
  let partNo = 0;
  let sourceError: unknown;
  let written = 0;
  let buf: Buffer[] = [];
  let bufLen = 0;
  const uploadPart = (chunks: Buffer[], length: number): Promise<void> => {
    const PartNumber = ++partNo;
    return s
      .write(path, () =>
        s.client.send(
          new UploadPartCommand({
            Bucket: s.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber,
            Body: Readable.from(chunks),
            ContentLength: length,
          }),
        ),
      )
      .then((r) => {
        parts.push({ ETag: r.ETag!, PartNumber });
      });
  };
  const flushPart = async () => {
    if (!uploadId) {
      const r = await s.write(path, () =>
        s.client.send(new CreateMultipartUploadCommand({ Bucket: s.bucket, Key: key, ...s.objectParams })),
      );
      uploadId = r.UploadId!;
    }
    const chunks = buf;
    const length = bufLen;
    buf = [];
    bufLen = 0;
    if (inFlight) await inFlight;
    inFlight = uploadPart(chunks, length);
    inFlight.catch(() => undefined);
  };
  try {
    try {
      for await (const chunk of source) {
        buf.push(chunk);
        bufLen += chunk.length;
        written += chunk.length;
        if (bufLen >= s.chunkSize) await flushPart();
      }
    } catch (err) {
      sourceError = err;
      throw err;
    }
    if (!uploadId) {
      const body = Buffer.concat(buf, bufLen);
      await s.write(path, () =>
        s.client.send(
          new PutObjectCommand({ Bucket: s.bucket, Key: key, Body: body, ContentLength: bufLen, ...s.objectParams }),
        ),
      );
      return written;
    }
    if (bufLen > 0) await flushPart();
    if (inFlight) await inFlight;
    await complete(s, path, key, uploadId, parts);
    return written;
  } catch (err) {
    if (inFlight) await (inFlight as Promise<void>).catch(() => undefined);
    if (uploadId) await abort(s, key, uploadId);
    throw sourceError ?? err;
  }
}

/** Builds `to` from `parts` (in order) with one multipart upload: UploadPartCopy where S3 allows it. */
export async function assemble(
  s: S3Access,
  path: string,
  to: string,
  parts: Array<{ key: string; size: number }>,
): Promise<void> {
  const mpu = await s.write(path, () =>
    s.client.send(new CreateMultipartUploadCommand({ Bucket: s.bucket, Key: to, ...s.objectParams })),
  );
  const uploadId = mpu.UploadId!;
  const done: Array<{ ETag: string; PartNumber: number }> = [];
  try {
    const jobs = planParts(parts, s.copyChunk);
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const n = next++;
        const job = jobs[n];
        const PartNumber = n + 1;
        if (job.kind === 'copy') {
          const r = await s.write(path, () =>
            s.client.send(
              new UploadPartCopyCommand({
                Bucket: s.bucket,
                Key: to,
                UploadId: uploadId,
                PartNumber,
                CopySource: `${s.bucket}/${encodeURIComponent(job.key).replace(/%2F/g, '/')}`,
                CopySourceRange: job.end > job.start ? `bytes=${job.start}-${job.end - 1}` : undefined,
              }),
            ),
          );
          done.push({ ETag: r.CopyPartResult!.ETag!, PartNumber });
        } else {
          const bufs: Buffer[] = [];
          for (const p of job.pieces)
            for await (const c of await s.getRange(path, p.key, p.start, p.end)) bufs.push(c as Buffer);
          const body = Buffer.concat(bufs);
          const r = await s.write(path, () =>
            s.client.send(
              new UploadPartCommand({
                Bucket: s.bucket,
                Key: to,
                UploadId: uploadId,
                PartNumber,
                Body: body,
                ContentLength: body.length,
              }),
            ),
          );
          done.push({ ETag: r.ETag!, PartNumber });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(s.copyConcurrency, jobs.length) }, worker));
    await complete(s, path, to, uploadId, done);
  } catch (err) {
    await abort(s, to, uploadId);
    throw err;
  }
}

/** Completes multipart upload `uploadId` of `key` from `parts`, in part-number order (S3 requires it). */
async function complete(
  s: S3Access,
  path: string,
  key: string,
  uploadId: string,
  parts: Array<{ ETag: string; PartNumber: number }>,
): Promise<void> {
  parts.sort((a, b) => a.PartNumber - b.PartNumber);
  await s.write(path, () =>
    s.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: s.bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
    ),
  );
}

/** Aborts multipart upload `uploadId` of `key` after a failure; a failed abort is ignored (the failure is what matters). */
async function abort(s: S3Access, key: string, uploadId: string): Promise<void> {
  await s.client
    .send(new AbortMultipartUploadCommand({ Bucket: s.bucket, Key: key, UploadId: uploadId }))
    .catch(() => undefined);
}
