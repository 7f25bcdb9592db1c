/**
 * `/v2/<name>/blobs/uploads/[<uuid>]`: POST (session, monolithic `?digest=`, mount), PATCH (chunked with
 * Content-Range, or streamed), PUT (complete, with or without a final chunk), GET (status), DELETE (cancel).
 */
import { ociError } from '../oci/errors.js';
import { checkDigest, checkName } from '../oci/names.js';
import type { UploadState } from '../registry/uploadstate.js';
import type { UploadInfo, WriteOptions } from '../registry/uploads.js';
import { bodyOf, contentLength, notify, sendEmpty, uploadRange, urlFor, type Ctx } from './context.js';

function uploadHeaders(ctx: Ctx, info: UploadInfo): Record<string, string> {
  const state = ctx.app.codec.pack({
    name: info.name,
    uuid: info.uuid,
    offset: info.offset,
    startedAt: info.startedAt,
  });
  return {
    Location: urlFor(ctx, `/v2/${info.name}/blobs/uploads/${info.uuid}?_state=${encodeURIComponent(state)}`),
    Range: uploadRange(info.offset),
    'Docker-Upload-UUID': info.uuid,
  };
}

function blobCreated(ctx: Ctx, name: string, digest: string): void {
  sendEmpty(ctx, 201, { Location: urlFor(ctx, `/v2/${name}/blobs/${digest}`), 'Docker-Content-Digest': digest });
}

/** `Content-Range: <start>-<end>` (Distribution's form; `bytes=` is tolerated). */
function parseContentRange(ctx: Ctx): { start: number; length: number } | undefined {
  const raw = ctx.req.headers['content-range'];
  if (raw === undefined) return undefined;
  const m = /^(?:bytes[= ])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(raw.trim());
  if (!m) throw ociError('RANGE_INVALID', { 'Content-Range': raw }, 'malformed Content-Range');
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start)
    throw ociError('RANGE_INVALID', { 'Content-Range': raw }, 'malformed Content-Range');
  const length = end - start + 1;
  const declared = contentLength(ctx.req);
  if (declared !== undefined && declared !== length)
    throw ociError(
      'RANGE_INVALID',
      { 'Content-Range': raw, 'Content-Length': declared },
      'Content-Range and Content-Length disagree',
    );
  return { start, length };
}

/** The client's `_state`, when present: it must be ours and for this repository and upload. */
function clientState(ctx: Ctx<'name' | 'uuid'>): UploadState | undefined {
  const raw = ctx.query.get('_state');
  if (raw === null) return undefined;
  const state = ctx.app.codec.unpack(raw);
  if (!state || state.name !== ctx.params.name || state.uuid !== ctx.params.uuid)
    throw ociError('BLOB_UPLOAD_INVALID', undefined, 'upload state is invalid or was not issued for this upload');
  return state;
}

/**
 * What a write to the session is checked against, under the session's lock: the stored offset must be where the
 * client's `_state` says it left off (unless a Content-Range names the start; that is checked instead).
 */
function writeOptions(ctx: Ctx<'name' | 'uuid'>, range: { start: number; length: number } | undefined): WriteOptions {
  const state = clientState(ctx);
  return {
    start: range?.start,
    length: range?.length ?? contentLength(ctx.req),
    startedAt: state?.startedAt,
    check: (info) => {
      if (state && range === undefined && state.offset !== info.offset)
        throw ociError(
          'BLOB_UPLOAD_INVALID',
          { offset: info.offset },
          `upload resumed at wrong offset: ${state.offset} != ${info.offset}`,
        );
    },
  };
}

async function session(ctx: Ctx<'name' | 'uuid'>): Promise<UploadInfo> {
  const state = clientState(ctx);
  return ctx.app.registry.uploads.status(ctx.params.name, ctx.params.uuid, state?.startedAt);
}

function hasBody(ctx: Ctx): boolean {
  const len = contentLength(ctx.req);
  return len !== undefined ? len > 0 : ctx.req.headers['transfer-encoding'] !== undefined;
}

export async function startUpload(ctx: Ctx<'name'>): Promise<void> {
  const name = ctx.params.name;
  const { registry } = ctx.app;
  const mount = ctx.query.get('mount');
  if (mount !== null) {
    const digest = checkDigest(mount);
    const from = ctx.query.get('from');
    if (from !== null) checkName(from);
    // From a named repository that holds the blob; or, without `from`, automatically: the blob exists somewhere in
    // this registry and this caller may read every repository.
    const eligible = from !== null ? await registry.blobs.isLinked(from, digest) : ctx.readsAll;
    const size = eligible ? await registry.blobs.globalSize(digest) : null;
    if (size !== null) {
      await registry.blobs.link(name, digest);
      notify(ctx, {
        action: 'mount',
        kind: 'blob',
        repository: name,
        digest: digest.value,
        size,
        ...(from !== null ? { fromRepository: from } : {}),
      });
      return blobCreated(ctx, name, digest.value);
    }
  }
  const digestParam = ctx.query.get('digest');
  if (digestParam !== null) {
    const digest = checkDigest(digestParam);
    const info = await registry.uploads.start(name);
    const { size } = await registry.uploads.complete(name, info.uuid, digest, bodyOf(ctx.req), {
      length: contentLength(ctx.req),
    });
    notify(ctx, { action: 'push', kind: 'blob', repository: name, digest: digest.value, size });
    return blobCreated(ctx, name, digest.value);
  }
  const info = await registry.uploads.start(name);
  sendEmpty(ctx, 202, uploadHeaders(ctx, info));
}

export async function patchUpload(ctx: Ctx<'name' | 'uuid'>): Promise<void> {
  const range = parseContentRange(ctx);
  const after = await ctx.app.registry.uploads.append(
    ctx.params.name,
    ctx.params.uuid,
    bodyOf(ctx.req),
    writeOptions(ctx, range),
  );
  sendEmpty(ctx, 202, uploadHeaders(ctx, after));
}

export async function putUpload(ctx: Ctx<'name' | 'uuid'>): Promise<void> {
  const digestParam = ctx.query.get('digest');
  if (digestParam === null)
    throw ociError('DIGEST_INVALID', undefined, 'digest missing from the upload completion request');
  const digest = checkDigest(digestParam);
  const range = parseContentRange(ctx);
  const name = ctx.params.name;
  const body = hasBody(ctx) ? bodyOf(ctx.req) : null;
  const { size } = await ctx.app.registry.uploads.complete(
    name,
    ctx.params.uuid,
    digest,
    body,
    writeOptions(ctx, range),
  );
  notify(ctx, { action: 'push', kind: 'blob', repository: name, digest: digest.value, size });
  blobCreated(ctx, name, digest.value);
}

export async function getUpload(ctx: Ctx<'name' | 'uuid'>): Promise<void> {
  const info = await session(ctx);
  sendEmpty(ctx, 204, uploadHeaders(ctx, info));
}

export async function deleteUpload(ctx: Ctx<'name' | 'uuid'>): Promise<void> {
  const info = await session(ctx);
  await ctx.app.registry.uploads.cancel(info.name, info.uuid);
  sendEmpty(ctx, 204);
}
