/** `/v2/<name>/blobs/<digest>`: GET (with Range) and HEAD stream from storage or redirect; DELETE unlinks. */
import { pipeline } from 'node:stream/promises';
import { ociError } from '../oci/errors.js';
import { checkDigest } from '../oci/names.js';
import { serveUpstreamBlob } from '../proxy/http.js';
import { notify, sendEmpty, type Ctx } from './context.js';
import { sendSlices } from './slices.js';

type ByteRange = { start: number; end: number } | 'unsatisfiable' | null;

/** A single `bytes=` range; null means "serve the whole blob" (absent, malformed or multi-range). */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size : Math.min(Number(m[2]) + 1, size);
  if (start >= size || end <= start) return 'unsatisfiable';
  return { start, end };
}

export async function getBlob(ctx: Ctx<'name' | 'digest'>): Promise<void> {
  const digest = checkDigest(ctx.params.digest);
  const { registry, proxy } = ctx.app;
  const proxied = proxy?.route(ctx.params.name, ctx.query) ?? null;
  if (
    proxied &&
    !(await proxy!.blobs.available(proxied, digest)) &&
    (await serveUpstreamBlob(ctx, proxy!, proxied, digest))
  )
    return;
  const name = proxied?.local ?? ctx.params.name;
  const info = await registry.blobs.stat(name, digest);
  if (ctx.method === 'GET')
    notify(ctx, { action: 'pull', kind: 'blob', repository: ctx.params.name, digest: digest.value, size: info.size });

  if (registry.options.redirect) {
    const url = await registry.blobs.redirectURL(ctx.method === 'HEAD' ? 'HEAD' : 'GET', digest);
    if (url) {
      sendEmpty(ctx, 307, { Location: url, 'Docker-Content-Digest': digest.value });
      return;
    }
  }

  const headers: Record<string, string | number> = {
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000',
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest.value,
    Etag: `"${digest.value}"`,
  };
  const inm = ctx.req.headers['if-none-match'];
  if (inm && (inm === `"${digest.value}"` || inm === digest.value)) {
    ctx.res.writeHead(304, headers);
    ctx.res.end();
    return;
  }
  const range = parseRange(ctx.req.headers.range, info.size);
  if (range === 'unsatisfiable') {
    const err = ociError('RANGE_INVALID', { size: info.size });
    err.headers['Content-Range'] = `bytes */${info.size}`;
    throw err;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? info.size;
  if (range) headers['Content-Range'] = `bytes ${start}-${end - 1}/${info.size}`;
  headers['Content-Length'] = end - start;

  if (ctx.method === 'HEAD') {
    ctx.res.writeHead(range ? 206 : 200, headers);
    ctx.res.end();
    return;
  }
  const file = await registry.blobs.openHandle(digest);
  if (file) {
    ctx.res.writeHead(range ? 206 : 200, headers);
    try {
      await sendSlices(file, ctx.res, start, end);
      ctx.res.end();
    } catch {
      // The client went away or storage failed mid-body: headers are sent, so only the connection can tell.
      ctx.res.destroy();
    } finally {
      await file.close();
    }
    return;
  }
  const stream = await registry.blobs.open(digest, start, end);
  ctx.res.writeHead(range ? 206 : 200, headers);
  try {
    await pipeline(stream, ctx.res);
  } catch {
    ctx.res.destroy();
  }
}

export async function deleteBlob(ctx: Ctx<'name' | 'digest'>): Promise<void> {
  const name = ctx.params.name;
  const digest = checkDigest(ctx.params.digest);
  const { registry } = ctx.app;
  if (!registry.options.deleteEnabled) throw ociError('UNSUPPORTED');
  await registry.blobs.unlink(name, digest);
  notify(ctx, { action: 'delete', kind: 'blob', repository: name, digest: digest.value });
  sendEmpty(ctx, 202, { 'Docker-Content-Digest': digest.value });
}
