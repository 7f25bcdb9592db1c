/** `n`/`last` pagination shared by the catalog and tags list, with Distribution's limits and Link header. */
import { ociError } from '../oci/errors.js';
import type { Ctx } from './context.js';

/**
 * Parses `n`; undefined when absent. Non-numbers, negatives and values above `max` are PAGINATION_NUMBER_INVALID;
 * as in Distribution the detail is the raw string when unparseable or negative, the parsed number when too large.
 */
export function parseN(ctx: Ctx, max: number): number | undefined {
  const raw = ctx.query.get('n');
  if (raw === null || raw === '') return undefined;
  const n = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw ociError('PAGINATION_NUMBER_INVALID', { n: raw });
  if (n > max) throw ociError('PAGINATION_NUMBER_INVALID', { n });
  return n;
}

/** `Link: <path?last=..&n=..>; rel="next"` with the request's own path, as Distribution builds it. */
export function linkHeader(ctx: Ctx, n: number, last: string): string {
  const q = new URLSearchParams({ last, n: String(n) });
  return `<${ctx.app.prefix}${ctx.path}?${q.toString()}>; rel="next"`;
}
