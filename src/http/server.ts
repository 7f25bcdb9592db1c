/**
 * The request pipeline: prefix -> route -> name check -> read-only -> auth -> handler, with one error mapper
 * and one access-log line per request. Every response carries Docker-Distribution-API-Version and http.headers.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requiredAccess } from '../auth/access.js';
import type { AccessController } from '../auth/controller.js';
import { ociError, OciError, toOciError } from '../oci/errors.js';
import { checkName } from '../oci/names.js';
import { InvalidPathError, StorageUnavailableError } from '../storage/driver.js';
import { ManifestVerificationError } from '../registry/manifests.js';
import { sendErrors, type AppContext, type Ctx } from './context.js';
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
  /** The built-in token server, answered at its own path (outside http.prefix). */
  tokenServer?: { path: string; handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> };
}

const UPLOAD_METHODS = new Set(['POST', 'PATCH', 'PUT']);

const NOT_FOUND = '404 page not found\n';

export function createHandler(opts: PipelineOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { app, auth, metrics } = opts;
  const extraHeaders = Object.entries(opts.headers);
  const prefix = app.prefix;

  return (req, res) => {
    const started = process.hrtime.bigint();
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let path = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? '' : url.slice(q + 1);
    const requestId = randomUUID();
    const received = countBodyBytes(req);

    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    for (const [k, v] of extraHeaders) res.setHeader(k, v as string[]);

    let user: string | undefined;
    let routeName = 'none';
    let upload = false;
    res.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const bodiless = method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304;
      const bytes = bodiless ? 0 : Number(res.getHeader('content-length') ?? 0);
      metrics.requests.inc({ method, route: routeName, code: res.statusCode });
      metrics.duration.observe({ method, route: routeName }, seconds);
      if (bytes > 0) metrics.bytesOut.inc({ route: routeName }, bytes);
      if (received() > 0) metrics.bytesIn.inc({ route: routeName }, received());
      if (upload) metrics.uploadsInProgress.dec();
      if (opts.accessLog) {
        app.log.info(
          { method, path, status: res.statusCode, bytes, duration_ms: Math.round(seconds * 1e5) / 100, user, request_id: requestId, remote: req.socket.remoteAddress, user_agent: req.headers['user-agent'] },
          'request',
        );
      }
    });

    const fail = (err: unknown): void => {
      const errors = err instanceof ManifestVerificationError ? err.errors : [mapError(err, requestId)];
      sendErrors(res, method, errors);
    };

    // Probes and the token server live at fixed paths, outside http.prefix.
    if ((path === '/livez' || path === '/readyz') && answerProbe(path, res, opts.probes)) return;
    if (opts.tokenServer && path === opts.tokenServer.path) {
      routeName = 'token';
      void opts.tokenServer.handle(req, res);
      return;
    }

    if (prefix !== '') {
      if (!path.startsWith(`${prefix}/`) && path !== prefix) {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
        res.end(NOT_FOUND);
        return;
      }
      path = path.slice(prefix.length) || '/';
    }

    if (opts.ui?.matches(path, req)) {
      routeName = 'ui';
      void opts.ui.handle(req, res, path);
      return;
    }

    if (path === '/') {
      res.writeHead(200, { 'Cache-Control': 'no-cache', 'Content-Length': '0' });
      res.end();
      return;
    }

    const match = matchRoute(path);
    if (!match) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
      res.end(NOT_FOUND);
      return;
    }
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
    const ctx: Ctx = { req, res, app, method, path, rawQuery, query, params, requestId, readsAll: auth.readsAll, mayPull: () => true };

    (async () => {
      if (params.name !== undefined) checkName(params.name);
      if (opts.readOnly && route.writes.includes(method)) throw ociError('UNSUPPORTED', undefined, 'the registry is in read-only mode');
      if (app.proxy?.refusesWrite(route.name, method, params.name, query)) throw ociError('UNSUPPORTED');
      const access = requiredAccess(route.name, method, params.name, query);
      const result = await auth.authorize(req, access);
      if (!result.granted) {
        // The anonymous first request every client makes to learn the challenge is not a failed authentication.
        if (req.headers.authorization !== undefined || result.code !== 'UNAUTHORIZED') metrics.authFailures.inc({ method: auth.name, code: result.code });
        throw new OciError(result.code, result.detail, { message: result.message, headers: result.headers });
      }
      user = result.user;
      ctx.user = user;
      const policy = auth.policy;
      if (policy) ctx.mayPull = (name) => policy.allows(user ?? null, { type: 'repository', class: '', name, action: 'pull' });
      await handler(ctx);
    })().catch(fail);
  };

  function mapError(err: unknown, requestId: string): OciError {
    if (err instanceof OciError) return err;
    if (err instanceof InvalidPathError) return ociError('NAME_INVALID');
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
