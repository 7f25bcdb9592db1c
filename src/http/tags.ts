/** `GET /v2/<name>/tags/list`: sorted tags, paginated with `n`/`last` when asked (src/proxy/tags.ts for a mirror). */
import { ociError } from '../oci/errors.js';
import { page } from '../registry/catalog.js';
import { sendJson, type Ctx } from './context.js';
import { linkHeader, parseN } from './pagination.js';

export async function getTags(ctx: Ctx<'name'>): Promise<void> {
  const name = ctx.params.name;
  const n = parseN(ctx, Number.MAX_SAFE_INTEGER);
  const last = ctx.query.get('last') ?? undefined;
  // A proxied repository lists the upstream's tags, or the cached ones when the upstream cannot answer.
  const proxied = ctx.app.proxy?.route(name, ctx.query) ?? null;
  const all = proxied ? await ctx.app.proxy!.tags.list(proxied) : await ctx.app.registry.tags.all(name);
  if (all === null) throw ociError('NAME_UNKNOWN', { name });
  const { items, more } = n === undefined ? page(all, all.length, last) : page(all, n, last);
  const headers: Record<string, string> = {};
  if (more && n !== undefined && items.length > 0) headers.Link = linkHeader(ctx, n, items[items.length - 1]);
  sendJson(ctx, 200, { name, tags: items }, headers);
}
