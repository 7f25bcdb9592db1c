/**
 * The composition root: a validated Config -> a running registry. Wiring (app/wiring.ts: storage -> registry ->
 * auth -> HTTP handler), listening (app/listen.ts: API and debug servers) and what follows start (app/lifecycle.ts:
 * reload, shutdown) each live in their own module; this file only puts them in order.
 */
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import type { Registry } from './registry/registry.js';
import { installProcessGuard } from './http/safety.js';
import { reload, shutdown } from './app/lifecycle.js';
import { listenApi, listenDebug, type ApiServer } from './app/listen.js';
import { wire } from './app/wiring.js';

export interface RunningRegistry {
  server: ApiServer;
  /** http or https. */
  scheme: 'http' | 'https';
  registry: Registry;
  /** Where it listens, as host:port or a socket path. */
  address: string;
  /** Where the debug server listens (http.debug.addr), if configured. */
  debugAddress?: string;
  /**
   * Re-reads what can change at run time (htpasswd, token keys, certificates) and, given the re-read config,
   * applies its `notifications`; returns what it reloaded.
   */
  reload(next?: Readonly<Config>): Promise<string[]>;
  /** Stops accepting, waits up to `drainMs` for requests in flight, then closes everything. */
  shutdown(drainMs: number): Promise<void>;
}

export async function startRegistry(config: Readonly<Config>, log: Logger): Promise<RunningRegistry> {
  const wired = await wire(config, log);
  const removeGuard = installProcessGuard(log);
  const api = await listenApi(config.http, wired.handler, log);
  const debug = await listenDebug(config.http.debug, wired.probes, log);
  return {
    server: api.server,
    registry: wired.registry,
    address: api.address,
    scheme: api.scheme,
    debugAddress: debug?.address,
    reload: (next) => reload(wired, api, log, next),
    async shutdown(drainMs) {
      await shutdown(wired, api, debug?.server ?? null, drainMs);
      removeGuard();
    },
  };
}
