/** Builds a running registry from a validated Config: storage -> registry -> auth -> HTTP server. */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createSecureServer, type ServerHttp2Session } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { bruteForceGuard, createAuth } from './auth/index.js';
import { TrustedProxies } from './auth/clientaddress.js';
import { AccessPolicy } from './auth/policy.js';
import { storageDriverOf } from './config/load.js';
import type { Config } from './config/schema.js';
import { createHandler } from './http/server.js';
import { answerPlainHttp, clientAuthMode, enforceClientAuth, loadTlsMaterial, tlsServerOptions, tlsWarnings, watchTlsFiles } from './http/tls.js';
import { Registry } from './registry/registry.js';
import { UploadStateCodec } from './registry/uploadstate.js';
import { HealthChecks } from './health.js';
import { debugHandler, type DebugOptions } from './http/debug.js';
import { Metrics } from './metrics.js';
import { metricsHooks, Notifier } from './notifications/index.js';
import { schedulePurging } from './registry/purge.js';
import { createDriver } from './storage/index.js';
import { createSharedState } from './redis/index.js';
import { instrumented } from './storage/instrumented.js';
import { createProxy } from './proxy/index.js';
import { StorageWriteState } from './storage/writestate.js';
import { clientErrorHandler, connectHandler, installProcessGuard } from './http/safety.js';
import { createLifecycle } from './policies/index.js';

export interface RunningRegistry {
  server: Server | ReturnType<typeof createSecureServer>;
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

export function parseAddr(addr: string): { host?: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = i > 0 ? addr.slice(0, i).replace(/^\[|\]$/g, '') : undefined;
  const port = Number(i >= 0 ? addr.slice(i + 1) : addr);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`http.addr: invalid address ${JSON.stringify(addr)}`);
  return { host, port };
}

function isLoopback(addr: string): boolean {
  const { host } = parseAddr(addr);
  return host === 'localhost' || host === '::1' || (host?.startsWith('127.') ?? false);
}

export async function startRegistry(config: Readonly<Config>, log: Logger): Promise<RunningRegistry> {
  const { name, params } = storageDriverOf(config);
  const metrics = new Metrics();
  const writes = new StorageWriteState((full) => metrics.storageFull.set(full ? 1 : 0));
  const driver = instrumented(await createDriver(name, params), metrics, writes);
  const shared = await createSharedState(config, log);
  const registry = new Registry(driver, {
    cache: shared.cache,
    uploadLocks: shared.uploadLocks,
    tagTrustMs: config.storage.cache.tagttl,
    tagChanges: shared.tagChanges,
    deleteEnabled: config.storage.delete.enabled,
    readOnly: config.storage.maintenance.readonly.enabled,
    redirect: !config.storage.redirect.disable,
    // A revalidation is a stat per directory on a filesystem, a full listing elsewhere (S3).
    catalogRevalidateMs: config.catalog.revalidate ?? (name === 'filesystem' ? 1000 : 10_000),
    validation: {
      disabled: config.validation.disabled || config.validation.enabled === false,
      urls: { allow: config.validation.manifests.urls.allow.map((r) => new RegExp(r)), deny: config.validation.manifests.urls.deny.map((r) => new RegExp(r)) },
      indexes: config.validation.manifests.indexes,
    },
  });

  // Across replicas (Redis), one replica downloads each blob the cache lacks; alone, the process's own map suffices.
  const proxy = createProxy(config, registry, metrics, log, shared.redis ? shared.uploadLocks : undefined);

  let secret = config.http.secret;
  if (!secret) {
    secret = randomBytes(32).toString('hex');
    log.warn('http.secret is not set: a random secret is used; uploads cannot be continued by another instance or after a restart. Set http.secret when running several replicas.');
  }

  const guard = bruteForceGuard(config, shared.bruteForce, { log, metrics });
  // The token server first: it may generate the certificate that auth.token.rootcertbundle names.
  // One policy object for the registry and its token server, so that SIGHUP replaces the rules for both.
  const policy = config.access ? new AccessPolicy(config.access) : undefined;
  // Imported only when configured, as the UI below: what a config does not use stays out of memory.
  const tokenServer = config.tokenserver?.enabled ? await (await import('./tokenserver/index.js')).createTokenServer(config, log, guard, policy) : null;
  const auth = await createAuth(config, { log, guard, policy });
  if (auth.name !== 'none' && auth.name !== 'silly' && config.http.net === 'tcp' && !config.http.tls && !isLoopback(config.http.addr)) {
    log.warn(`auth.${auth.name} is configured over plain HTTP on ${config.http.addr}: credentials travel in the clear; configure http.tls or a TLS-terminating proxy`);
  }

  const sd = config.health.storagedriver;
  const health = new HealthChecks(driver, { enabled: sd.enabled, intervalMs: sd.interval, threshold: sd.threshold }, log);
  if (shared.redis) health.addDegradedCheck('redis', () => shared.redis!.failure());
  // A full or read-only storage still serves every read: reported, but never unready.
  health.addDegradedCheck('storage', () => {
    writes.recheck(driver);
    return writes.failure();
  });
  health.start();
  let draining = false;
  const debug = config.http.debug;
  const probes: DebugOptions = { health, metrics, metricsPath: debug?.prometheus.enabled ? debug.prometheus.path : null, ready: () => !draining };

  const purging = config.storage.maintenance.uploadpurging;
  const stopPurging =
    purging.enabled && !config.storage.maintenance.readonly.enabled
      ? schedulePurging(driver, { ageMs: purging.age, intervalMs: purging.interval, dryRun: purging.dryrun, firstDelayMs: Math.min(Math.random() * 30 * 60_000, purging.interval), onPurged: (uuid) => registry.uploads.forget(uuid) }, log)
      : () => {};

  const events = new Notifier(config.notifications, { log, httpAddr: config.http.addr, hooks: metricsHooks(metrics) });
  const lifecycle = createLifecycle({ config, registry, access: policy, redis: shared.redis, metrics, events, log });

  const prefix = config.http.prefix.replace(/\/$/, '');
  const ui = config.ui.enabled ? await (await import('./ui/handler.js')).createUi({ config, auth, registry, prefix, log, policies: lifecycle.policies, upstreamOf: proxy && ((name) => proxy.upstreamOf(name)) }) : undefined;
  const handler = createHandler({
    app: { registry, codec: new UploadStateCodec(secret), log, prefix, host: config.http.host, relativeUrls: config.http.relativeurls, catalogMaxEntries: config.catalog.maxentries, events, tagGuard: lifecycle.tagGuard, proxy },
    auth,
    readOnly: config.storage.maintenance.readonly.enabled,
    headers: config.http.headers,
    accessLog: !config.log.accesslog.disabled,
    metrics,
    probes,
    ui,
    trustedProxies: new TrustedProxies(config.http.trustedproxies),
    tokenServer: tokenServer ? { path: tokenServer.path, handle: (req, res) => tokenServer.server.handle(req, res) } : undefined,
  });

  // The Host header is checked by the handler (src/http/framing.ts), which answers in the registry's shape.
  const timeouts = { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000, requireHostHeader: false };
  const tls = config.http.tls;
  let server: Server | ReturnType<typeof createSecureServer>;
  let stopWatching = () => {};
  const h2Sessions = new Set<ServerHttp2Session>();
  let reloadTls: (() => void) | null = null;
  if (tls) {
    const material = loadTlsMaterial(tls);
    for (const w of tlsWarnings(tls, material)) log.warn(w);
    const options = tlsServerOptions(tls, material);
    if (config.http.http2?.disabled) server = createHttpsServer({ ...options, ...timeouts }, handler);
    else {
      const h2 = createSecureServer({ ...options, allowHTTP1: true }, handler as never);
      // HTTP/2 sessions are not "connections" to closeIdleConnections(): track them to close them on shutdown.
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
    stopWatching = watchTlsFiles(tls, log, (m) => secure.setSecureContext(tlsServerOptions(tls, m)));
    reloadTls = () => secure.setSecureContext(tlsServerOptions(tls, loadTlsMaterial(tls)));
  } else {
    if (config.http.h2c?.enabled) log.warn('http.h2c is not supported yet: serving HTTP/1.1 only');
    server = createServer(timeouts, handler);
  }
  server.on('clientError', clientErrorHandler(config.http.headers, log));
  server.on('connect', connectHandler(config.http.headers));
  const removeGuard = installProcessGuard(log);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (config.http.net === 'unix') server.listen(config.http.addr, resolve);
    else {
      const { host, port } = parseAddr(config.http.addr);
      server.listen(port, host, resolve);
    }
  });
  // After listening, an 'error' (accept failing with EMFILE under a flood of connections) must not end the process.
  server.on('error', (err) => log.error({ err }, 'server error; still listening'));
  const a = server.address();
  const address = typeof a === 'string' ? a : `${(a as AddressInfo).address}:${(a as AddressInfo).port}`;

  let debugServer: Server | null = null;
  let debugAddress: string | undefined;
  if (debug?.addr) {
    const ds = createServer(debugHandler(probes));
    debugServer = ds;
    await new Promise<void>((resolve, reject) => {
      ds.once('error', reject);
      const { host, port } = parseAddr(debug.addr!);
      ds.listen(port, host, resolve);
    });
    const da = ds.address() as AddressInfo;
    debugAddress = `${da.address}:${da.port}`;
    log.info(`debug server (health${probes.metricsPath ? ', metrics' : ''}) listening on ${debugAddress}`);
  } else if (debug?.prometheus.enabled) {
    log.warn('http.debug.prometheus is enabled but http.debug.addr is not set: metrics are not served');
  }

  return {
    server,
    registry,
    address,
    scheme: tls ? 'https' : 'http',
    debugAddress,
    async reload(next?: Readonly<Config>) {
      const done: string[] = [];
      if (auth.reload) {
        await auth.reload();
        done.push(`auth.${auth.name}`);
      }
      if (tokenServer) {
        await tokenServer.reload();
        done.push('tokenserver.htpasswd');
      }
      if (reloadTls) {
        reloadTls();
        done.push('http.tls');
      }
      if (next && policy) {
        if (next.access) {
          policy.replace(next.access);
          done.push(`access rules (${next.access.rules.length})`);
        } else {
          log.warn('SIGHUP: the access section was removed; turning the access rules off needs a restart (the old rules stay)');
        }
      } else if (next?.access) {
        log.warn('SIGHUP: an access section was added; turning access rules on needs a restart');
      }
      if (next && (next.policies.length > 0 || lifecycle.policies.size > 0)) done.push(lifecycle.reload(next));
      if (next && (events.enabled || next.notifications.endpoints.length > 0)) {
        const active = events.configure(next.notifications);
        done.push(`notifications (${active.length} endpoint${active.length === 1 ? '' : 's'})`);
      }
      return done;
    },
    async shutdown(drainMs: number) {
      draining = true;
      stopWatching();
      stopPurging();
      lifecycle.stop();
      health.stop();
      events.close();
      debugServer?.close();
      debugServer?.closeAllConnections();
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
      proxy?.close();
      await driver.close?.();
      await shared.close();
      removeGuard();
    },
  };
}
