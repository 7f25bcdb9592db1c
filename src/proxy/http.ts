/** The HTTP side of a blob the cache does not hold yet: HEAD asks the upstream; GET streams the shared download. */
import { ociError } from '../oci/errors.js';
import type { Digest } from '../oci/names.js';
import { parseRange } from '../http/blobs.js';
import type { Ctx } from '../http/context.js';
import { BlobArrived } from './blobs.js';
import type { PullThroughCache, Route } from './index.js';

/** Serves the blob from the upstream; false when it turned out to be in storage after all (the caller serves it). */
export async function serveUpstreamBlob(ctx: Ctx, proxy: PullThroughCache, route: Route, d: Digest): Promise<boolean> {
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': d.value,
    Etag: `"${d.value}"`,
  };
  if (ctx.method === 'HEAD') {
    const { size } = await proxy.blobs.head(route, d);
    if (size !== null) headers['Content-Length'] = size;
    ctx.res.writeHead(200, headers);
    ctx.res.end();
    return true;
  }
  let spool;
  try {
    spool = await proxy.blobs.download(route, d);
  } catch (err) {
    if (!(err instanceof BlobArrived)) throw err;
    if (await proxy.blobs.available(route, d)) return false;
    throw ociError('BLOB_UNKNOWN', d.value);
  }
  let start = 0;
  let end: number | undefined;
  let status = 200;
  if (spool.size !== null) {
    headers['Accept-Ranges'] = 'bytes';
    const range = parseRange(ctx.req.headers.range, spool.size);
    if (range === 'unsatisfiable') {
      const err = ociError('RANGE_INVALID', { size: spool.size });
      err.headers['Content-Range'] = `bytes */${spool.size}`;
      throw err;
    }
    if (range) {
      ({ start, end } = range);
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end - 1}/${spool.size}`;
    }
    headers['Content-Length'] = (end ?? spool.size) - start;
  }
  ctx.res.writeHead(status, headers);
  // Headers now, not with the first byte: the client learns at once that the blob is coming.
  ctx.res.flushHeaders();
  try {
    await spool.pipeTo(ctx.res, start, end);
    ctx.res.end();
  } catch {
    // The download failed (the last byte was held back) or the client left: only the connection can tell.
    ctx.res.destroy();
  }
  return true;
}
