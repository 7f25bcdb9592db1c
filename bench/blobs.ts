/**
 * Large-blob scenarios: monolithic push, chunked push, pull with digest verification. Blob bodies are
 * generated on the fly from a repeating random pattern; a blob is never held whole in memory, in the client
 * or (if the server streams) in the server.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Agent } from 'node:http';
import { absolute, expectStatus, send, sendRaw, withParam } from './http.js';

const PATTERN_BYTES = 1024 * 1024;
const WRITE_CHUNK = 256 * 1024;

export interface BlobSource {
  size: number;
  pattern: Buffer;
  digest: string;
}

/** Bytes [start, end) of the blob, as slices of the pattern (no copies). */
export function* blobBytes(src: Pick<BlobSource, 'size' | 'pattern'>, start = 0, end = src.size): Generator<Buffer> {
  let pos = start;
  while (pos < end) {
    const inPattern = pos % src.pattern.length;
    const n = Math.min(WRITE_CHUNK, src.pattern.length - inPattern, end - pos);
    yield src.pattern.subarray(inPattern, inPattern + n);
    pos += n;
  }
}

/** A new random blob of `size` bytes; its digest is computed by streaming the same generator through sha256. */
export function makeBlob(size: number): BlobSource {
  const pattern = randomBytes(PATTERN_BYTES);
  const h = createHash('sha256');
  for (const chunk of blobBytes({ size, pattern })) h.update(chunk);
  return { size, pattern, digest: `sha256:${h.digest('hex')}` };
}

async function startSession(agent: Agent, base: string, repo: string): Promise<string> {
  const r = await send(agent, 'POST', `${base}/v2/${repo}/blobs/uploads/`, { 'Content-Length': 0 });
  expectStatus(r, 202, 'POST upload');
  return absolute(base, r.headers.location);
}

/** POST a session, then one PUT ?digest= carrying the whole body. */
export async function pushMonolithic(agent: Agent, base: string, repo: string, blob: BlobSource): Promise<void> {
  const location = await startSession(agent, base, repo);
  const r = await send(
    agent,
    'PUT',
    withParam(location, 'digest', blob.digest),
    { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.size },
    blobBytes(blob),
  );
  expectStatus(r, 201, 'PUT monolithic blob');
}

/** POST a session, PATCH `chunk`-byte pieces with Content-Range, then PUT ?digest= with no body. */
export async function pushChunked(
  agent: Agent,
  base: string,
  repo: string,
  blob: BlobSource,
  chunk: number,
): Promise<void> {
  let location = await startSession(agent, base, repo);
  for (let start = 0; start < blob.size; start += chunk) {
    const end = Math.min(start + chunk, blob.size);
    const r = await send(
      agent,
      'PATCH',
      location,
      {
        'Content-Type': 'application/octet-stream',
        'Content-Length': end - start,
        'Content-Range': `${start}-${end - 1}`,
      },
      blobBytes(blob, start, end),
    );
    expectStatus(r, 202, `PATCH chunk at ${start}`);
    location = absolute(base, r.headers.location);
  }
  const r = await send(agent, 'PUT', withParam(location, 'digest', blob.digest), { 'Content-Length': 0 });
  expectStatus(r, 201, 'PUT chunked completion');
}

/** GET the blob, hashing and counting while streaming; throws when the size or digest differ. */
export async function pull(agent: Agent, base: string, repo: string, blob: BlobSource): Promise<void> {
  await fetchVerified(agent, `${base}/v2/${repo}/blobs/${blob.digest}`, blob);
}

/** The 307 Location a registry answers for a blob GET when its driver can presign (S3 with redirects on). */
export async function redirectLocation(agent: Agent, base: string, repo: string, blob: BlobSource): Promise<string> {
  const r = await send(agent, 'GET', `${base}/v2/${repo}/blobs/${blob.digest}`, {});
  if (r.status !== 307 || !r.headers.location) throw new Error(`GET blob: HTTP ${r.status}, expected a 307 redirect`);
  return absolute(base, r.headers.location);
}

/** GET `url` (a registry blob URL or a presigned storage URL), verifying size and digest while streaming. */
export async function fetchVerified(agent: Agent, url: string, blob: BlobSource): Promise<void> {
  await sendRaw(agent, 'GET', url, {}, undefined, 600_000, async (res) => {
    if (res.statusCode !== 200) {
      res.resume();
      throw new Error(`GET blob: HTTP ${res.statusCode}`);
    }
    const h = createHash('sha256');
    let n = 0;
    for await (const chunk of res) {
      h.update(chunk as Buffer);
      n += (chunk as Buffer).length;
    }
    const got = `sha256:${h.digest('hex')}`;
    if (n !== blob.size || got !== blob.digest)
      throw new Error(`GET blob: got ${n} bytes with ${got}, expected ${blob.size} bytes with ${blob.digest}`);
  });
}
