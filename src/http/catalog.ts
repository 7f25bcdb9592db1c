/** `GET /v2/_catalog`: repositories in lexical order, paginated (default 100, at most catalog.maxentries). */
import { page } from '../registry/catalog.js';
import { sendJson, type Ctx } from './context.js';
import { linkHeader, parseN } from './pagination.js';

const DEFAULT_ENTRIES = 100;

export async function getCatalog(ctx: Ctx): Promise<void> {
  const max = ctx.app.catalogMaxEntries;
  const n = parseN(ctx, max) ?? Math.min(DEFAULT_ENTRIES, max);
  const last = ctx.query.get('last') ?? undefined;
  const all = n === 0 ? [] : await ctx.app.registry.repositories();
  const { items, more } = page(all, n, last, ctx.mayPull);
  const headers: Record<string, string> = {};
  if (more && items.length > 0) headers.Link = linkHeader(ctx, n, items[items.length - 1]);
  sendJson(ctx, 200, { repositories: items }, headers);
}
