/**
 * Listening: the API server (HTTP/1.1, or HTTPS with HTTP/2 and HTTP/1.1) on `http.addr`, and the debug server on
 * `http.debug.addr`. What they serve comes from wiring.ts; what stops them is in lifecycle.ts.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { Http2SecureServer, ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { debugHandler, type DebugOptions } from '../http/debug.js';
import { clientErrorHandler, connectHandler } from '../http/safety.js';
import { parseAddr } from './addr.js';

export type ApiServer = Server | Http2SecureServer;

export interface Listening {
  server: ApiServer;
  scheme: 'http' | 'https';
  /** Where it listens, as host:port or a socket path. */
  address: string;
  /** Open HTTP/2 sessions: not "connections" to closeIdleConnections(), so shutdown closes them itself. */
  h2Sessions: Set<ServerHttp2Session>;
  /** Re-reads the certificate and key (SIGHUP); null without http.tls. */
  reloadTls: (() => void) | null;
  /** Stops watching the certificate files. */
  stopWatching: () => void;
}

/** Creates the API server for `http` (plain, or TLS with or without HTTP/2) and listens on `http.addr`. */
export async function listenApi(
  http: Readonly<Config['http']>,
  handler: RequestListener,
  log: Logger,
): Promise<Listening> {
  // The HTTPS server code (and node:http2) is loaded only when configured.
  const served = http.tls
    ? (await import('./listentls.js')).secureServer(http, http.tls, handler, log, TIMEOUTS)
    : plainServer(handler);
  const { server } = served;
  server.on('clientError', clientErrorHandler(http.headers, log));
  server.on('connect', connectHandler(http.headers));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (http.net === 'unix') server.listen(http.addr, resolve);
    else {
      const { host, port } = parseAddr(http.addr);
      server.listen(port, host, resolve);
    }
  });
  // After listening, an 'error' (accept failing with EMFILE under a flood of connections) must not end the process.
  server.on('error', (err) => log.error({ err }, 'server error; still listening'));
  const a = server.address();
  const address = typeof a === 'string' ? a : `${(a as AddressInfo).address}:${(a as AddressInfo).port}`;
  return { ...served, address, scheme: http.tls ? 'https' : 'http' };
}

// The Host header is checked by the handler (src/http/framing.ts), which answers in the registry's shape.
export const TIMEOUTS = {
  keepAliveTimeout: 65_000,
  requestTimeout: 0,
  headersTimeout: 60_000,
  requireHostHeader: false,
};

export type Served = Omit<Listening, 'address' | 'scheme'>;

function plainServer(handler: RequestListener): Served {
  // http.h2c is not served: load.ts warns about the key once, at start and in `wharf config check`.
  return { server: createServer(TIMEOUTS, handler), h2Sessions: new Set(), reloadTls: null, stopWatching: () => {} };
}

/**
 * The debug server (`http.debug.addr`): health and, with `prometheus.enabled`, metrics. Returns null when no
 * address is configured (and warns when metrics were asked for without one).
 */
export async function listenDebug(
  debug: Readonly<Config['http']['debug']>,
  probes: DebugOptions,
  log: Logger,
): Promise<{ server: Server; address: string } | null> {
  if (!debug?.addr) {
    if (debug?.prometheus.enabled)
      log.warn('http.debug.prometheus is enabled but http.debug.addr is not set: metrics are not served');
    return null;
  }
  const { host, port } = parseAddr(debug.addr);
  const server = createServer(debugHandler(probes));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const da = server.address() as AddressInfo;
  const address = `${da.address}:${da.port}`;
  log.info(`debug server (health${probes.metricsPath ? ', metrics' : ''}) listening on ${address}`);
  return { server, address };
}
