/**
 * `wharf token-server config.yml`: the built-in token server alone, without a registry. It reads the same
 * config.yml (`tokenserver`, `access`, `bruteforce`, `log`) and answers only `tokenserver.path` on
 * `tokenserver.addr`; registries (wharf or Distribution) point `auth.token.realm` at it and trust its certificate.
 * SIGTERM/SIGINT stop it; SIGHUP re-reads the htpasswd file.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseAddr } from '../app/addr.js';
import { rememberClientAddress, TrustedProxies } from '../auth/clientaddress.js';
import { bruteForceGuard } from '../auth/index.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { createLogger } from '../log.js';
import { createTokenServer } from '../tokenserver/index.js';

export interface RunningTokenServer {
  server: Server;
  /** host:port it listens on. */
  address: string;
  reload(): Promise<void>;
  close(): Promise<void>;
}

/** Loads `configPath` and serves the token endpoint; returns 1 (after printing why) when it cannot start. */
export async function tokenServerCommand(
  configPath: string | undefined,
  err: NodeJS.WritableStream,
): Promise<RunningTokenServer | 1> {
  let loaded;
  try {
    loaded = loadConfig({ path: configPath });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err.write(`wharf: ${e.message}\n`);
    return 1;
  }
  const { config, warnings } = loaded;
  const ts = config.tokenserver;
  if (!ts) {
    err.write(`wharf token-server: ${loaded.source} has no tokenserver section\n`);
    return 1;
  }
  if (!ts.addr) {
    err.write(
      `wharf token-server: tokenserver.addr is required to run the token server alone (e.g. addr: ":5001"); without it the token server is served by \`wharf serve\` at tokenserver.path\n`,
    );
    return 1;
  }
  if (!ts.enabled) {
    err.write('wharf token-server: tokenserver.enabled is false\n');
    return 1;
  }
  const log = createLogger({ level: config.log.level, formatter: config.log.formatter, fields: config.log.fields });
  for (const w of warnings) log.warn(`config: ${w}`);
  const { host, port } = parseAddr(ts.addr);
  let built;
  try {
    built = (await createTokenServer(config, log, bruteForceGuard(config, undefined, { log })))!;
  } catch (e) {
    err.write(`wharf token-server: cannot start: ${(e as Error).message}\n`);
    return 1;
  }
  const { server: tokens, path, reload } = built;
  const NOT_FOUND =
    JSON.stringify({ errors: [{ code: 'NOT_FOUND', message: `the token endpoint is ${path}` }] }) + '\n';
  const proxies = new TrustedProxies(config.http.trustedproxies);
  const server = createServer({ keepAliveTimeout: 65_000, headersTimeout: 60_000 }, (req, res) => {
    rememberClientAddress(req, proxies);
    const reqPath = (req.url ?? '/').split('?')[0];
    if (reqPath === path) {
      void tokens.handle(req, res);
      return;
    }
    res.writeHead(404, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(NOT_FOUND),
    });
    res.end(NOT_FOUND);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
  } catch (e) {
    err.write(`wharf token-server: cannot listen on ${ts.addr}: ${(e as Error).message}\n`);
    return 1;
  }
  const a = server.address() as AddressInfo;
  const address = `${a.address}:${a.port}`;
  log.info({ path, config: loaded.source }, `token server listening on ${address}`);
  return {
    server,
    address,
    reload,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
