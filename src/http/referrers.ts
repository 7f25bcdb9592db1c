/** `GET /v2/<name>/referrers/<digest>`: an OCI index of the manifests whose subject is <digest>. */
import { MT } from '../oci/mediatypes.js';
import { checkDigest } from '../oci/names.js';
import type { Ctx } from './context.js';

export async function getReferrers(ctx: Ctx<'name' | 'digest'>): Promise<void> {
  const subject = checkDigest(ctx.params.digest);
  const artifactType = ctx.query.get('artifactType') ?? undefined;
  // A proxied repository: the upstream's list (src/proxy/referrers.ts).
  const proxied = ctx.app.proxy?.route(ctx.params.name, ctx.query) ?? null;
  const { manifests, filtered } = proxied
    ? await ctx.app.proxy!.referrers.list(proxied, subject, artifactType)
    : {
        manifests: await ctx.app.registry.manifests.referrers(ctx.params.name, subject, artifactType),
        filtered: artifactType !== undefined,
      };
  const body = JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests });
  const headers: Record<string, string | number> = {
    'Content-Type': MT.ociIndex,
    'Content-Length': Buffer.byteLength(body),
  };
  if (filtered) headers['OCI-Filters-Applied'] = 'artifactType';
  ctx.res.writeHead(200, headers);
  ctx.res.end(ctx.method === 'HEAD' ? undefined : body);
}
