/** The HTTPS API server (HTTP/2 and HTTP/1.1, or HTTP/1.1 only): listen.ts imports this only when http.tls is set. */
import type { RequestListener } from 'node:http';
import { createSecureServer, type ServerHttp2Session } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import {
  answerPlainHttp,
  clientAuthMode,
  enforceClientAuth,
  loadTlsMaterial,
  tlsServerOptions,
  tlsWarnings,
  watchTlsFiles,
} from '../http/tls.js';
import type { ApiServer, Served, TIMEOUTS } from './listen.js';

export function secureServer(
  http: Readonly<Config['http']>,
  tls: NonNullable<Config['http']['tls']>,
  handler: RequestListener,
  log: Logger,
  timeouts: typeof TIMEOUTS,
): Served {
  const material = loadTlsMaterial(tls);
  for (const w of tlsWarnings(tls, material)) log.warn(w);
  const options = tlsServerOptions(tls, material);
  const h2Sessions = new Set<ServerHttp2Session>();
  let server: ApiServer;
  if (http.http2?.disabled) server = createHttpsServer({ ...options, ...timeouts }, handler);
  else {
    const h2 = createSecureServer({ ...options, allowHTTP1: true }, handler as never);
    h2.on('session', (s: ServerHttp2Session) => {
      h2Sessions.add(s);
      s.once('close', () => h2Sessions.delete(s));
    });
    server = h2;
  }
  answerPlainHttp(server as unknown as TlsServer);
  const mode = clientAuthMode(tls);
  server.on('secureConnection', (socket: TLSSocket) => enforceClientAuth(mode, socket));
  const secure = server as { setSecureContext(o: object): void };
  const stopWatching = watchTlsFiles(tls, log, (m) => secure.setSecureContext(tlsServerOptions(tls, m)));
  const reloadTls = () => secure.setSecureContext(tlsServerOptions(tls, loadTlsMaterial(tls)));
  return { server, h2Sessions, reloadTls, stopWatching };
}
