/** `GET /v2/`: the API version check. */
import { sendJson, type Ctx } from './context.js';

export async function getBase(ctx: Ctx): Promise<void> {
  sendJson(ctx, 200, {});
}
