/**
 * The request pipeline: prefix -> route -> name check -> read-only -> auth -> handler, with one error mapper
 * and one access-log line per request. Every response carries Docker-Distribution-API-Version and http.headers.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requiredAccess } from '../auth/access.js';
import { rememberClientAddress, type TrustedProxies } from '../auth/clientaddress.js';
import type { AccessController } from '../auth/controller.js';
import { ociError, OciError, toOciError } from '../oci/errors.js';
import { checkName } from '../oci/names.js';
import { InvalidPathError, StorageFullError, StorageUnavailableError } from '../storage/driver.js';
import { domainErrors } from './domainerrors.js';
import { sendErrors, type AppContext, type Ctx, type Peer } from './context.js';
import { checkRequest, localAuthorities, withPort } from './framing.js';
import { countBodyBytes, type Metrics } from '../metrics.js';
import { answerProbe, type DebugOptions } from './debug.js';
import { matchRoute } from './routes.js';

export interface PipelineOptions {
  app: AppContext;
  auth: AccessController;
  readOnly: boolean;
  /** http.headers from the config. */
  headers: Record<string, readonly string[]>;
  accessLog: boolean;
  metrics: Metrics;
  /** Liveness/readiness probes answered at /livez and /readyz. */
  probes: DebugOptions;
  /** The web UI (src/ui): the paths it claims within http.prefix (`/` only for browsers), answered before the API routes. */
  ui?: { matches(path: string, req: IncomingMessage): boolean; handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> };
  /** `http.trustedproxies`: decides each request's client address, once, for throttling and the access log. */
  trustedProxies?: TrustedProxies;
  /** The built-in token server, answered at its own path (outside http.prefix). */
  tokenServer?: { path: string; handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> };
}

const UPLOAD_METHODS = new Set(['POST', 'PATCH', 'PUT']);

const NOT_FOUND = '404 page not found\n';

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end(NOT_FOUND);
}

/** Bytes of an abandoned request body read and dropped before the connection is closed instead. */
const DISCARD_LIMIT = 64 * 1024 * 1024;

/**
 * After a handler stopped reading a body it refused (a full disk, a size mismatch), the rest is read and dropped so
 * that the client, still sending, gets to read the answer instead of a reset, and the connection stays usable. A body
 * that goes on past DISCARD_LIMIT has its connection closed at once.
 */
function discardRest(req: IncomingMessage): void {
  if (req.complete || req.destroyed) return;
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DISCARD_LIMIT) req.destroy();
  });
  req.on('error', () => undefined);
  req.resume();
}

/** The socket facts a request needs after its socket may be gone. */
function snapshotPeer(req: IncomingMessage): Peer {
  const s = req.socket as (IncomingMessage['socket'] & { encrypted?: boolean }) | null;
  return { address: s?.remoteAddress, port: s?.remotePort, localAddress: s?.localAddress, localPort: s?.localPort, encrypted: s?.encrypted === true };
}

/** The authority of `http.host` (`https://registry.example.com` -> `registry.example.com:443`). */
function configuredAuthority(host: string): string | undefined {
  try {
    const u = new URL(host);
    return withPort(u.host, u.protocol === 'https:' ? 443 : 80);
  } catch {
    return undefined;
  }
}

export function createHandler(opts: PipelineOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { app, auth, metrics } = opts;
  const extraHeaders = Object.entries(opts.headers);
  const prefix = app.prefix;
  const configured = app.host ? configuredAuthority(app.host) : undefined;

  return (req, res) => {
    const started = process.hrtime.bigint();
    const method = req.method ?? 'GET';
    const requestId = randomUUID();
    // What the access log, notifications and Location need of the socket, taken now: it may be gone (null) by
    // the time the response closes.
    const peer = snapshotPeer(req);
    const received = countBodyBytes(req);
    const remote = opts.trustedProxies ? rememberClientAddress(req, opts.trustedProxies) : peer.address;
    let path = (req.url ?? '/').split('?')[0];
    let user: string | undefined;
    let routeName = 'none';
    let upload = false;

    /** Answers an error once (or closes the connection when the response has started); never throws. */
    const fail = (err: unknown): void => {
      try {
        discardRest(req);
        const errors = domainErrors(err) ?? [mapError(err, requestId)];
        sendErrors(res, method, errors);
      } catch (e) {
        app.log.error({ err: e, request_id: requestId }, 'cannot answer a failed request');
        res.destroy();
      }
    };

    res.once('close', () => {
      try {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        // 499 (as Distribution and nginx log it): the client went away before any answer was sent.
        const status = res.headersSent ? res.statusCode : 499;
        const bodiless = method === 'HEAD' || status === 204 || status === 304 || status === 499;
        const bytes = bodiless ? 0 : Number(res.getHeader('content-length') ?? 0) || 0;
        metrics.requests.inc({ method, route: routeName, code: status });
        metrics.duration.observe({ method, route: routeName }, seconds);
        if (bytes > 0) metrics.bytesOut.inc({ route: routeName }, bytes);
        if (received() > 0) metrics.bytesIn.inc({ route: routeName }, received());
        if (upload) metrics.uploadsInProgress.dec();
        if (opts.accessLog) {
          app.log.info(
            { method, path, status, bytes, duration_ms: Math.round(seconds * 1e5) / 100, user, request_id: requestId, remote, user_agent: req.headers['user-agent'] },
            'request',
          );
        }
      } catch (err) {
        app.log.error({ err, request_id: requestId }, 'access log or metrics failed');
      }
    });

    try {
      res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
      for (const [k, v] of extraHeaders) res.setHeader(k, v as string[]);

      // Our origin: http.host, or the address this connection reached. Not the Host header: a proxy request names
      // its target there too.
      const own = (authority: string) => authority === configured || localAuthorities(peer.localAddress, peer.localPort).includes(authority);
      const target = checkRequest(req, own);
      if (target instanceof OciError) {
        res.shouldKeepAlive = false;
        res.setHeader('Connection', 'close');
        fail(target);
        return;
      }
      path = target.path;
      const rawQuery = target.rawQuery;

      // Probes and the token server live at fixed paths, outside http.prefix.
      if ((path === '/livez' || path === '/readyz') && answerProbe(path, res, opts.probes)) return;
      if (opts.tokenServer && path === opts.tokenServer.path) {
        routeName = 'token';
        opts.tokenServer.handle(req, res).catch(fail);
        return;
      }

      if (prefix !== '') {
        if (!path.startsWith(`${prefix}/`) && path !== prefix) return notFound(res);
        path = path.slice(prefix.length) || '/';
      }

      if (opts.ui?.matches(path, req)) {
        routeName = 'ui';
        opts.ui.handle(req, res, path).catch(fail);
        return;
      }

      if (path === '/') {
        res.writeHead(200, { 'Cache-Control': 'no-cache', 'Content-Length': '0' });
        res.end();
        return;
      }

      const match = matchRoute(path);
      if (!match) return notFound(res);
      const { route, params } = match;
      routeName = route.name;
      if ((route.name === 'upload' || route.name === 'uploadStart') && UPLOAD_METHODS.has(method)) {
        upload = true;
        metrics.uploadsInProgress.inc();
      }
      const handler = route.methods[method];
      if (!handler) {
        res.setHeader('Allow', Object.keys(route.methods).join(', '));
        fail(ociError('UNSUPPORTED', { method }, `method ${method} is not allowed on this endpoint`));
        return;
      }

      const query = new URLSearchParams(rawQuery);
      const ctx: Ctx = { req, res, app, method, path, rawQuery, query, params, requestId, peer, readsAll: auth.readsAll, mayPull: () => true };

      (async () => {
        if (params.name !== undefined) checkName(params.name);
        if (opts.readOnly && route.writes.includes(method)) throw ociError('UNSUPPORTED', undefined, 'the registry is in read-only mode');
        if (app.proxy?.refusesWrite(route.name, method, params.name, query)) throw ociError('UNSUPPORTED');
        const access = requiredAccess(route.name, method, params.name, query);
        const result = await auth.authorize(req, access);
        if (!result.granted) {
          // The anonymous first request every client makes to learn the challenge is not a failed authentication.
          if ((req.headers.authorization !== undefined && result.reason !== 'missing') || result.code !== 'UNAUTHORIZED') metrics.authFailures.inc({ method: auth.name, code: result.code });
          throw new OciError(result.code, result.detail, { message: result.message, headers: result.headers });
        }
        user = result.user;
        ctx.user = user;
        const policy = auth.policy;
        if (policy) ctx.mayPull = (name) => policy.allows(user ?? null, { type: 'repository', class: '', name, action: 'pull' });
        await handler(ctx);
      })().catch(fail);
    } catch (err) {
      fail(err);
    }
  };

  function mapError(err: unknown, requestId: string): OciError {
    if (err instanceof OciError) return err;
    if (err instanceof InvalidPathError) return ociError('NAME_INVALID');
    if (err instanceof StorageFullError) {
      // The driver's message names the file: logged, never sent.
      app.log.error({ err: err.message, request_id: requestId }, err.kind === 'full' ? 'storage is full' : 'storage refuses writes');
      const message = err.kind === 'full' ? 'storage is full: no space left or quota exceeded; retry once space is freed' : 'storage refuses writes (read-only); reads still work';
      return new OciError('UNAVAILABLE', undefined, { message, headers: { 'Retry-After': '60' } });
    }
    if (err instanceof StorageUnavailableError) {
      app.log.error({ err: err.message, request_id: requestId }, 'storage unavailable');
      return ociError('UNAVAILABLE', undefined, 'storage is unavailable, retry later');
    }
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error)?.message === 'aborted') {
      return ociError('BLOB_UPLOAD_INVALID', undefined, 'the request body ended early');
    }
    app.log.error({ err, request_id: requestId }, 'request failed');
    return toOciError(err);
  }
}
