/** `GET /v2/`: the API version check. The body is exactly `{}` (no newline), as Distribution writes it. */
import type { Ctx } from './context.js';

const BODY = '{}';

export async function getBase(ctx: Ctx): Promise<void> {
  ctx.res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': BODY.length });
  ctx.res.end(ctx.method === 'HEAD' ? undefined : BODY);
}
