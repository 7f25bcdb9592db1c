/** `/v2/<name>/manifests/<reference>`: GET/HEAD with Distribution's Accept negotiation, PUT, DELETE. */
import { createHash } from 'node:crypto';
import { ociError } from '../oci/errors.js';
import { MT } from '../oci/mediatypes.js';
import { isValidTag, parseDigest, parseReference, type Digest, type Reference } from '../oci/names.js';
import { MAX_MANIFEST_BYTES, type StoredManifest } from '../registry/manifests.js';
import { notify, readBody, sendEmpty, urlFor, type Ctx } from './context.js';

function accepted(ctx: Ctx): Set<string> {
  const out = new Set<string>();
  // Node joins repeated Accept headers with ", " (HTTP/1.1 and HTTP/2 alike).
  const raw = ctx.req.headers.accept;
  const header = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  for (const part of header.split(',')) {
    const mt = part.split(';')[0].trim().toLowerCase();
    if (mt) out.add(mt);
  }
  return out;
}

function etagMatches(ctx: Ctx, d: Digest): boolean {
  const v = ctx.req.headers['if-none-match'];
  if (!v) return false;
  return v === d.value || v === `"${d.value}"`;
}

/**
 * The reference of a read or a delete. A string that is not a valid tag names no manifest: 404 MANIFEST_UNKNOWN,
 * as Distribution answers (its route does not match) and the conformance suite expects. Only a PUT is told
 * TAG_INVALID.
 */
function existingReference(ctx: Ctx<'reference'>): Reference {
  const raw = ctx.params.reference;
  if (!raw.includes(':') && !isValidTag(raw)) throw ociError('MANIFEST_UNKNOWN', { Tag: raw });
  return parseReference(raw);
}

export async function getManifest(ctx: Ctx<'name' | 'reference'>): Promise<void> {
  const ref = existingReference(ctx);
  const { registry, proxy } = ctx.app;
  // A proxied repository is kept under its local name; events and errors keep the name the client sent.
  const proxied = proxy?.route(ctx.params.name, ctx.query) ?? null;
  const name = proxied?.local ?? ctx.params.name;
  let digest = proxied
    ? await proxy!.manifests.resolve(proxied, ref)
    : (ref.digest ?? (await registry.tags.forPull(name, ref.tag!)));
  if (etagMatches(ctx, digest)) {
    ctx.res.writeHead(304);
    ctx.res.end();
    return;
  }
  let m: StoredManifest = proxied
    ? await proxy!.manifests.get(proxied, digest)
    : await registry.manifests.get(name, digest);
  const supports = accepted(ctx);

  if (m.mediaType === MT.ociManifest && !supports.has(MT.ociManifest)) {
    throw ociError(
      'MANIFEST_UNKNOWN',
      undefined,
      'OCI manifest found, but accept header does not support OCI manifests',
    );
  }
  if (m.mediaType === MT.ociIndex && !supports.has(MT.ociIndex)) {
    throw ociError('MANIFEST_UNKNOWN', undefined, 'OCI index found, but accept header does not support OCI indexes');
  }
  if (ref.tag !== undefined && m.mediaType === MT.dockerList && !supports.has(MT.dockerList)) {
    // An old client: answer the linux/amd64 image of the list, as Distribution does.
    const child =
      m.parsed.kind === 'index'
        ? m.parsed.body.manifests.find((c) => c.platform?.architecture === 'amd64' && c.platform?.os === 'linux')
        : undefined;
    const childDigest = child ? parseDigest(child.digest) : null;
    if (!childDigest) throw ociError('MANIFEST_UNKNOWN');
    if (proxied) await proxy!.manifests.resolve(proxied, { digest: childDigest });
    m = proxied ? await proxy!.manifests.get(proxied, childDigest) : await registry.manifests.get(name, childDigest);
    if (m.mediaType === MT.dockerManifest && !supports.has(MT.dockerManifest)) {
      throw ociError('MANIFEST_INVALID', undefined, 'Schema 2 manifest not supported by client');
    }
    digest = childDigest;
  }

  if (ctx.method === 'GET')
    notify(ctx, {
      action: 'pull',
      kind: 'manifest',
      repository: ctx.params.name,
      digest: digest.value,
      mediaType: m.mediaType,
      size: m.bytes.length,
      tag: ref.tag,
      manifest: m.parsed.body,
    });
  ctx.res.writeHead(200, {
    'Content-Type': m.mediaType,
    'Content-Length': m.bytes.length,
    'Docker-Content-Digest': digest.value,
    Etag: `"${digest.value}"`,
  });
  ctx.res.end(ctx.method === 'HEAD' ? undefined : m.bytes);
}

export async function putManifest(ctx: Ctx<'name' | 'reference'>): Promise<void> {
  const name = ctx.params.name;
  const ref = parseReference(ctx.params.reference);
  const bytes = await readBody(ctx.req, MAX_MANIFEST_BYTES, () =>
    ociError('MANIFEST_INVALID', { limit: MAX_MANIFEST_BYTES }, `manifest is larger than ${MAX_MANIFEST_BYTES} bytes`),
  );
  const { registry, tagGuard } = ctx.app;
  const tag = ref.tag;
  const write = async () => {
    const stored = await registry.manifests.put(name, bytes, ctx.req.headers['content-type'], ref.digest);
    if (tag !== undefined) await registry.tags.tag(name, tag, stored.digest);
    return stored;
  };
  // The immutability check comes before anything is stored: a refused push leaves no untagged manifest behind.
  const sha256 = () => parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`)!;
  const m =
    tag !== undefined && tagGuard
      ? await tagGuard.putTag(registry, name, tag, sha256(), ctx.user || null, write)
      : await write();
  notify(ctx, {
    action: 'push',
    kind: 'manifest',
    repository: name,
    digest: m.digest.value,
    mediaType: m.mediaType,
    size: m.bytes.length,
    tag: ref.tag,
    manifest: m.parsed.body,
  });
  const headers: Record<string, string> = {
    Location: urlFor(ctx, `/v2/${name}/manifests/${m.digest.value}`),
    'Docker-Content-Digest': m.digest.value,
  };
  const subject = m.parsed.body.subject;
  if (subject) headers['OCI-Subject'] = subject.digest;
  sendEmpty(ctx, 201, headers);
}

export async function deleteManifest(ctx: Ctx<'name' | 'reference'>): Promise<void> {
  const name = ctx.params.name;
  const ref = existingReference(ctx);
  const { registry, tagGuard } = ctx.app;
  if (!registry.options.deleteEnabled) throw ociError('UNSUPPORTED');
  if (ref.tag !== undefined) {
    await tagGuard?.checkDeleteTag(registry, name, ref.tag, ctx.user || null);
    await registry.tags.untag(name, ref.tag);
    notify(ctx, { action: 'delete', kind: 'tag', repository: name, tag: ref.tag });
  } else {
    await tagGuard?.checkDeleteManifest(registry, name, ref.digest, ctx.user || null);
    await registry.manifests.delete(name, ref.digest);
    notify(ctx, { action: 'delete', kind: 'manifest', repository: name, digest: ref.digest.value });
    for (const tag of await registry.tags.lookup(name, ref.digest)) {
      await registry.tags.untag(name, tag).then(
        () => notify(ctx, { action: 'delete', kind: 'tag', repository: name, tag }),
        () => undefined,
      );
    }
  }
  sendEmpty(ctx, 202);
}
