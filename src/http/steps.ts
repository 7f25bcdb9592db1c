/**
 * The steps of the request pipeline (pipeline.ts has the contract), each made once per server from its options.
 * server.ts lists them in order; a new cross-cutting concern (a rate limit, tracing) is one more function here and
 * one line there.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requiredAccess } from '../auth/access.js';
import { rememberClientAddress, type TrustedProxies } from '../auth/clientaddress.js';
import { ociError, OciError } from '../oci/errors.js';
import { checkName } from '../oci/names.js';
import type { Ctx, ParamName } from './context.js';
import { answerProbe, type DebugOptions } from './debug.js';
import { checkRequest, localAuthorities, withPort } from './framing.js';
import type { Exchange, Outcome, Step } from './pipeline.js';
import { matchRoute } from './routes.js';

const RESPONSE = Symbol('exchange');
type Observed = ServerResponse & { [RESPONSE]?: Exchange };

/** Metrics and the access log: one line and one count per request, whenever and however its response closes. */
export function observe(accessLog: boolean): Step {
  // One listener function for every request (it finds the Exchange on the response): no closure per request.
  const onClose = function (this: Observed): void {
    const x = this[RESPONSE];
    if (x) finished(x, accessLog);
  };
  return {
    name: 'observe',
    run(x) {
      (x.res as Observed)[RESPONSE] = x;
      x.res.on('close', onClose);
      return 'next';
    },
  };
}

function finished(x: Exchange, accessLog: boolean): void {
  const { res, method, routeName: route, site } = x;
  const { metrics } = site;
  try {
    const seconds = Number(process.hrtime.bigint() - x.started) / 1e9;
    // 499 (as Distribution and nginx log it): the client went away before any answer was sent.
    const status = res.headersSent ? res.statusCode : 499;
    const bodiless = method === 'HEAD' || status === 204 || status === 304 || status === 499;
    const bytes = bodiless ? 0 : Number(res.getHeader('content-length') ?? 0) || 0;
    metrics.requests.inc({ method, route, code: status });
    metrics.duration.observe({ method, route }, seconds);
    if (bytes > 0) metrics.bytesOut.inc({ route }, bytes);
    const received = x.received();
    if (received > 0) metrics.bytesIn.inc({ route }, received);
    if (x.upload) metrics.uploadsInProgress.dec();
    if (accessLog) {
      const fields = {
        method,
        path: x.path,
        status,
        bytes,
        duration_ms: Math.round(seconds * 1e5) / 100,
        user: x.user,
        request_id: x.requestId,
        remote: x.remote,
        user_agent: x.req.headers['user-agent'],
      };
      site.app.log.info(fields, 'request');
    }
  } catch (err) {
    site.app.log.error({ err, request_id: x.requestId }, 'access log or metrics failed');
  }
}

/** `http.trustedproxies`: decides the client address once, for throttling and the access log. */
export function clientAddress(proxies: TrustedProxies): Step {
  return {
    name: 'clientAddress',
    run(x) {
      x.remote = rememberClientAddress(x.req, proxies);
      return 'next';
    },
  };
}

/** Every response carries Docker-Distribution-API-Version and http.headers, errors included. */
export function responseHeaders(headers: Record<string, readonly string[]>): Step {
  const extra = Object.entries(headers);
  return {
    name: 'responseHeaders',
    run({ res }) {
      res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
      for (const [k, v] of extra) res.setHeader(k, v);
      return 'next';
    },
  };
}

/** The request line and framing (framing.ts); a refused one is answered and its connection closed. */
export function framing(host: string | undefined): Step {
  const configured = host ? configuredAuthority(host) : undefined;
  // Our origin: http.host, or the address this connection reached. Not the Host header: a proxy request names
  // its target there too.
  const own = (authority: string, req: IncomingMessage) =>
    authority === configured || localAuthorities(req.socket?.localAddress, req.socket?.localPort).includes(authority);
  return {
    name: 'framing',
    run(x) {
      const target = checkRequest(x.req, own);
      if (target instanceof OciError) {
        x.res.shouldKeepAlive = false;
        x.res.setHeader('Connection', 'close');
        x.fail(target);
        return 'done';
      }
      x.path = target.path;
      x.rawQuery = target.rawQuery;
      return 'next';
    },
  };
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

/** /livez and /readyz, at fixed paths outside http.prefix. */
export function probes(opts: DebugOptions): Step {
  return {
    name: 'probes',
    run(x) {
      return (x.path === '/livez' || x.path === '/readyz') && answerProbe(x.path, x.res, opts) ? 'done' : 'next';
    },
  };
}

/** The built-in token server, at its own path outside http.prefix. */
export function tokenServer(ts: {
  path: string;
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}): Step {
  return {
    name: 'tokenServer',
    run(x) {
      if (x.path !== ts.path) return 'next';
      x.routeName = 'token';
      return ts.handle(x.req, x.res);
    },
  };
}

const NOT_FOUND = '404 page not found\n';

/** Distribution's plain-text 404 for paths outside the API. */
function notFound(res: ServerResponse): 'done' {
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end(NOT_FOUND);
  return 'done';
}

/** http.prefix: paths outside it are 404; within it, the rest of the pipeline sees the path without it. */
export function prefix(prefix: string): Step {
  return {
    name: 'prefix',
    run(x) {
      if (!x.path.startsWith(`${prefix}/`) && x.path !== prefix) return notFound(x.res);
      x.path = x.path.slice(prefix.length) || '/';
      return 'next';
    },
  };
}

/** The web UI (src/ui): the paths it claims within http.prefix, before the API routes. */
export function ui(ui: {
  matches(path: string, req: IncomingMessage): boolean;
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}): Step {
  return {
    name: 'ui',
    run(x) {
      if (!ui.matches(x.path, x.req)) return 'next';
      x.routeName = 'ui';
      return ui.handle(x.req, x.res, x.path);
    },
  };
}

/** `/` (within the prefix): an empty 200, as Distribution answers it. */
export const root: Step = {
  name: 'root',
  run({ path, res }) {
    if (path !== '/') return 'next';
    res.writeHead(200, { 'Cache-Control': 'no-cache', 'Content-Length': '0' });
    res.end();
    return 'done';
  },
};

const UPLOAD_METHODS = new Set(['POST', 'PATCH', 'PUT']);

/** The route table (routes.ts): 404 for no route, 405 for a method it has no handler for. */
export const route: Step = {
  name: 'route',
  run(x) {
    const match = matchRoute(x.path);
    if (!match) return notFound(x.res);
    const { route, params } = match;
    x.route = route;
    x.params = params;
    x.routeName = route.name;
    if ((route.name === 'upload' || route.name === 'uploadStart') && UPLOAD_METHODS.has(x.method)) {
      x.upload = true;
      x.site.metrics.uploadsInProgress.inc();
    }
    const handler = route.methods[x.method];
    if (!handler) {
      x.res.setHeader('Allow', Object.keys(route.methods).join(', '));
      throw ociError('UNSUPPORTED', { method: x.method }, `method ${x.method} is not allowed on this endpoint`);
    }
    x.handler = handler;
    return 'next';
  },
};

/** The repository name's grammar, before anything reads storage under it. */
export const repositoryName: Step = {
  name: 'repositoryName',
  run({ params }) {
    if (params.name !== undefined) checkName(params.name);
    return 'next';
  },
};

/** storage.maintenance.readonly: writes are refused before authentication, as Distribution does. */
export function readOnly(enabled: boolean): Step {
  return {
    name: 'readOnly',
    run({ route, method }) {
      if (enabled && route!.writes.includes(method))
        throw ociError('UNSUPPORTED', undefined, 'the registry is in read-only mode');
      return 'next';
    },
  };
}

/** A pull-through cache's repositories take no pushes. */
export const proxyWrites: Step = {
  name: 'proxyWrites',
  run(x) {
    if (x.app.proxy?.refusesWrite(x.route!.name, x.method, x.params.name, x.query)) throw ociError('UNSUPPORTED');
    return 'next';
  },
};

/** Access decided once (auth/access.ts) and checked by the configured AccessController; sets the caller. */
export const authorize: Step = {
  name: 'authorize',
  async run(x): Promise<Outcome> {
    const { auth, metrics } = x.site;
    const access = requiredAccess(x.route!.name, x.method, x.params.name, x.query);
    const result = await auth.authorize(x.req, access);
    if (!result.granted) {
      // The anonymous first request every client makes to learn the challenge is not a failed authentication.
      if ((x.req.headers.authorization !== undefined && result.reason !== 'missing') || result.code !== 'UNAUTHORIZED')
        metrics.authFailures.inc({ method: auth.name, code: result.code });
      throw new OciError(result.code, result.detail, { message: result.message, headers: result.headers });
    }
    const user = result.user;
    x.user = user;
    const policy = auth.policy;
    if (policy)
      x.mayPull = (name) => policy.allows(user ?? null, { type: 'repository', class: '', name, action: 'pull' });
    return 'next';
  },
};

/** The route's handler for the method; the last step. */
export const dispatch: Step = {
  name: 'dispatch',
  run(x) {
    // The route step chose a handler of this route, whose pattern captured exactly the parameters it reads.
    return x.handler!(x as unknown as Ctx<ParamName>);
  },
};
