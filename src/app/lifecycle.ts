/** A running registry's life after start: SIGHUP reloads, and the drain-then-close shutdown. */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Listening } from './listen.js';
import type { Wired } from './wiring.js';

/**
 * Re-reads what can change at run time (htpasswd, token keys, certificates) and, given the re-read config, applies
 * its access rules, policies and notifications; returns what it reloaded.
 */
export async function reload(w: Wired, api: Listening, log: Logger, next?: Readonly<Config>): Promise<string[]> {
  const done: string[] = [];
  if (w.auth.reload) {
    await w.auth.reload();
    done.push(`auth.${w.auth.name}`);
  }
  if (w.tokenServer) {
    await w.tokenServer.reload();
    done.push('tokenserver.htpasswd');
  }
  if (api.reloadTls) {
    api.reloadTls();
    done.push('http.tls');
  }
  if (next && w.policy) {
    if (next.access) {
      w.policy.replace(next.access);
      done.push(`access rules (${next.access.rules.length})`);
    } else {
      log.warn(
        'SIGHUP: the access section was removed; turning the access rules off needs a restart (the old rules stay)',
      );
    }
  } else if (next?.access) {
    log.warn('SIGHUP: an access section was added; turning access rules on needs a restart');
  }
  if (next && (next.policies.length > 0 || w.lifecycle.policies.size > 0)) done.push(w.lifecycle.reload(next));
  if (next && (w.events.enabled || next.notifications.endpoints.length > 0)) {
    const active = w.events.configure(next.notifications);
    done.push(`notifications (${active.length} endpoint${active.length === 1 ? '' : 's'})`);
  }
  return done;
}

/**
 * Stops accepting (and answers /readyz not ready), waits up to `drainMs` for requests in flight, then closes every
 * connection, the background work, the storage driver and the shared state.
 */
export async function shutdown(w: Wired, api: Listening, debugServer: Server | null, drainMs: number): Promise<void> {
  w.state.draining = true;
  api.stopWatching();
  w.stopPurging();
  w.lifecycle.stop();
  w.health.stop();
  w.events.close();
  debugServer?.close();
  debugServer?.closeAllConnections();
  const { server, h2Sessions } = api;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const http1 = server as Partial<Server>;
  http1.closeIdleConnections?.();
  // GOAWAY to every HTTP/2 client: streams in flight finish, no new ones start, the session then closes.
  for (const s of h2Sessions) s.close();
  // A keep-alive connection whose last request ends during the drain turns idle and would hold close() open.
  const sweep = setInterval(() => http1.closeIdleConnections?.(), 100);
  if (drainMs > 0) await Promise.race([closed, new Promise((r) => setTimeout(r, drainMs).unref())]);
  clearInterval(sweep);
  http1.closeAllConnections?.();
  for (const s of h2Sessions) s.destroy();
  w.proxy?.close();
  await w.driver.close?.();
  await w.shared.close();
}
