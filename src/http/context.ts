/** Per-request context and the response helpers every handler uses. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { remoteAddr } from '../notifications/event.js';
import type { EventInput, Notifier } from '../notifications/index.js';
import { errorBody, OciError } from '../oci/errors.js';
import type { PullThroughCache } from '../proxy/index.js';
import type { TagGuard } from '../policies/immutable.js';
import type { Registry } from '../registry/registry.js';
import type { UploadStateCodec } from '../registry/uploadstate.js';

export interface AppContext {
  registry: Registry;
  codec: UploadStateCodec;
  log: Logger;
  /** http.prefix without its trailing slash ("" for "/"). */
  prefix: string;
  /** http.host as a base URL, when configured. */
  host?: string;
  relativeUrls: boolean;
  catalogMaxEntries: number;
  /** notifications.endpoints: where handlers report pushes, pulls, mounts and deletes (see notify). */
  events?: Pick<Notifier, 'enabled' | 'write'>;
  /** `proxy`: the pull-through cache; handlers ask it which repositories come from an upstream. */
  proxy?: PullThroughCache;
  /** policies[].immutable: refuses moving or deleting immutable tags (absent: no policies). */
  tagGuard?: TagGuard;
}

/** The path parameters a route can capture (src/http/routes.ts). */
export type ParamName = 'name' | 'reference' | 'digest' | 'uuid';

/** The parameters of a route that captures `P`: each one present, percent-decoded, not yet validated. */
export type Params<P extends ParamName = never> = Readonly<Record<P, string>>;

/** The socket facts of a request, taken when it arrived (the socket may be gone by the time they are used). */
export interface Peer {
  address?: string;
  port?: number;
  localAddress?: string;
  localPort?: number;
  encrypted: boolean;
}

/** What a handler gets; `P` names the path parameters its route captures (the route table checks that they match). */
export interface Ctx<P extends ParamName = never> {
  req: IncomingMessage;
  res: ServerResponse;
  app: AppContext;
  method: string;
  /** Path without the configured prefix and without the query. */
  path: string;
  /** The raw query string (after '?'), or "". */
  rawQuery: string;
  query: URLSearchParams;
  params: Params<P>;
  user?: string;
  /** Whether this caller may pull every repository (no per-repository rules apply to it). */
  readsAll: boolean;
  /** Whether this caller may pull repository `name` (the catalog lists only those). */
  mayPull: (name: string) => boolean;
  requestId: string;
  peer: Peer;
}

export const JSON_TYPE = 'application/json; charset=utf-8';

/** Absolute (or, with relativeurls, root-relative) URL of a registry path such as `/v2/foo/blobs/...`. */
export function urlFor(ctx: Ctx, path: string): string {
  const p = `${ctx.app.prefix}${path}`;
  if (ctx.app.relativeUrls) return p;
  if (ctx.app.host) return `${ctx.app.host.replace(/\/$/, '')}${p}`;
  const h = ctx.req.headers;
  const proto = firstForwarded(h['x-forwarded-proto']) ?? (ctx.peer.encrypted ? 'https' : 'http');
  const host =
    firstForwarded(h['x-forwarded-host']) ?? h.host ?? (h[':authority'] as string | undefined) ?? 'localhost';
  return `${proto}://${host}${p}`;
}

/**
 * Reports a registry event to the notification endpoints (Distribution's bridge): one call per event, after the
 * action succeeded. Returns at once; delivery is asynchronous and can never fail or slow the request.
 */
export function notify(ctx: Ctx, event: EventInput): void {
  const sink = ctx.app.events;
  if (!sink?.enabled) return;
  const h = ctx.req.headers;
  try {
    sink.write(event, {
      request: {
        id: ctx.requestId,
        addr: remoteAddr(h, { remoteAddress: ctx.peer.address, remotePort: ctx.peer.port }),
        host: h.host ?? (h[':authority'] as string | undefined),
        method: ctx.method,
        useragent: h['user-agent'] ?? '',
      },
      actor: ctx.user,
      url: (path) => urlFor(ctx, path),
    });
  } catch (err) {
    // The action succeeded: a notification that cannot be built is logged, never the request's failure.
    ctx.app.log.error({ err, request_id: ctx.requestId }, 'notifications: cannot report an event');
  }
}

function firstForwarded(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  const first = s.split(',')[0].trim();
  return first === '' ? undefined : first;
}

export function sendJson(ctx: Ctx, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n';
  ctx.res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text), ...headers });
  ctx.res.end(ctx.method === 'HEAD' ? undefined : text);
}

export function sendEmpty(ctx: Ctx, status: number, headers: Record<string, string | number> = {}): void {
  ctx.res.writeHead(status, { 'Content-Length': '0', ...headers });
  ctx.res.end();
}

export function sendErrors(res: ServerResponse, method: string, errors: OciError[]): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const first = errors[0];
  const body = errorBody(errors);
  for (const [k, v] of Object.entries(first.headers)) res.setHeader(k, v);
  res.writeHead(first.status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(body) });
  res.end(method === 'HEAD' ? undefined : body);
}

/**
 * The request body as an iterable that leaves the request alone when the consumer stops early (a refused or
 * failed write): destroying it would reset the connection before the error is answered; Node discards the rest
 * of the body once the response is sent.
 */
export function bodyOf(req: IncomingMessage): AsyncIterable<Buffer> {
  return req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
}

/** Reads a small request body, refusing more than `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number, onTooLarge: () => Error): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw onTooLarge();
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of bodyOf(req)) {
    total += (chunk as Buffer).length;
    if (total > limit) throw onTooLarge();
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts, total);
}

/** The declared Content-Length: undefined when absent, and when not a non-negative safe integer. */
export function contentLength(req: IncomingMessage): number | undefined {
  const v = req.headers['content-length'];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Distribution's upload Range header value: `0-<last byte>`, `0-0` when empty. */
export function uploadRange(offset: number): string {
  return `0-${offset > 0 ? offset - 1 : 0}`;
}
