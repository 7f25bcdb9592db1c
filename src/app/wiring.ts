/**
 * The composition root's wiring: from a validated Config to the parts of a registry (storage -> registry -> auth ->
 * HTTP handler) and its background work. Nothing here listens; listen.ts does, lifecycle.ts reloads and stops.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { bruteForceGuard, createAuth } from '../auth/index.js';
import type { AccessController } from '../auth/controller.js';
import { TrustedProxies } from '../auth/clientaddress.js';
import { AccessPolicy } from '../auth/policy.js';
import { storageDriverOf } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createHandler } from '../http/server.js';
import type { DebugOptions } from '../http/debug.js';
import { Registry } from '../registry/registry.js';
import { UploadStateCodec } from '../registry/uploadstate.js';
import { HealthChecks } from '../health.js';
import { Metrics } from '../metrics.js';
import { metricsHooks, Notifier } from '../notifications/index.js';
import { schedulePurging } from '../registry/purge.js';
import { createDriver } from '../storage/index.js';
import type { StorageDriver } from '../storage/driver.js';
import { createSharedState, type SharedState } from '../redis/index.js';
import { instrumented } from '../storage/instrumented.js';
import { createProxy, type PullThroughCache } from '../proxy/index.js';
import { StorageWriteState } from '../storage/writestate.js';
import { createLifecycle } from '../policies/index.js';
import type { createTokenServer } from '../tokenserver/index.js';
import { isLoopback } from './addr.js';

type Lifecycle = ReturnType<typeof createLifecycle>;
type TokenServer = NonNullable<Awaited<ReturnType<typeof createTokenServer>>>;

/** Everything a running registry is made of; listen.ts serves `handler`, lifecycle.ts reloads and stops the rest. */
export interface Wired {
  driver: StorageDriver;
  shared: SharedState;
  registry: Registry;
  proxy?: PullThroughCache;
  auth: AccessController;
  policy?: AccessPolicy;
  tokenServer: TokenServer | null;
  health: HealthChecks;
  probes: DebugOptions;
  /** Set on shutdown: /readyz then answers not ready. */
  state: { draining: boolean };
  stopPurging: () => void;
  events: Notifier;
  lifecycle: Lifecycle;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
}

export async function wire(config: Readonly<Config>, log: Logger): Promise<Wired> {
  const metrics = new Metrics();
  const { driver, writes, registry, shared } = await wireStorage(config, log, metrics);
  // Across replicas (Redis), one replica downloads each blob the cache lacks; alone, the process's own map suffices.
  const board =
    config.proxy && shared.redis
      ? new (await import('../redis/downloads.js')).RedisDownloadBoard(shared.redis)
      : undefined;
  const proxy = createProxy(config, registry, metrics, log, shared.redis ? shared.uploadLocks : undefined, board);
  const codec = new UploadStateCodec(httpSecret(config, log));
  const { auth, policy, tokenServer } = await wireAuth(config, log, metrics, shared);

  const health = wireHealth(config, log, driver, writes, shared);
  const state = { draining: false };
  const debug = config.http.debug;
  const probes: DebugOptions = {
    health,
    metrics,
    metricsPath: debug?.prometheus.enabled ? debug.prometheus.path : null,
    ready: () => !state.draining,
  };

  const purging = config.storage.maintenance.uploadpurging;
  const stopPurging =
    purging.enabled && !config.storage.maintenance.readonly.enabled
      ? schedulePurging(
          driver,
          {
            ageMs: purging.age,
            intervalMs: purging.interval,
            dryRun: purging.dryrun,
            firstDelayMs: Math.min(Math.random() * 30 * 60_000, purging.interval),
            onPurged: (uuid) => registry.uploads.forget(uuid),
          },
          log,
        )
      : () => {};

  const events = new Notifier(config.notifications, { log, httpAddr: config.http.addr, hooks: metricsHooks(metrics) });
  const lifecycle = createLifecycle({ config, registry, access: policy, redis: shared.redis, metrics, events, log });

  const prefix = config.http.prefix.replace(/\/$/, '');
  const ui = config.ui.enabled
    ? await (
        await import('../ui/handler.js')
      ).createUi({
        config,
        auth,
        registry,
        prefix,
        log,
        policies: lifecycle.policies,
        upstreamOf: proxy && ((name) => proxy.upstreamOf(name)),
      })
    : undefined;
  const handler = createHandler({
    app: {
      registry,
      codec,
      log,
      prefix,
      host: config.http.host,
      relativeUrls: config.http.relativeurls,
      catalogMaxEntries: config.catalog.maxentries,
      events,
      tagGuard: lifecycle.tagGuard,
      proxy,
    },
    auth,
    readOnly: config.storage.maintenance.readonly.enabled,
    headers: config.http.headers,
    accessLog: !config.log.accesslog.disabled,
    metrics,
    probes,
    ui,
    trustedProxies: new TrustedProxies(config.http.trustedproxies),
    tokenServer: tokenServer
      ? { path: tokenServer.path, handle: (req, res) => tokenServer.server.handle(req, res) }
      : undefined,
  });
  return {
    driver,
    shared,
    registry,
    proxy,
    auth,
    policy,
    tokenServer,
    health,
    probes,
    state,
    stopPurging,
    events,
    lifecycle,
    handler,
  };
}

async function wireStorage(config: Readonly<Config>, log: Logger, metrics: Metrics) {
  const storage = storageDriverOf(config);
  const { name } = storage;
  const writes = new StorageWriteState((full) => metrics.storageFull.set(full ? 1 : 0));
  const driver = instrumented(await createDriver(storage), metrics, writes);
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
      urls: {
        allow: config.validation.manifests.urls.allow.map((r) => new RegExp(r)),
        deny: config.validation.manifests.urls.deny.map((r) => new RegExp(r)),
      },
      indexes: config.validation.manifests.indexes,
    },
  });
  return { driver, writes, registry, shared };
}

async function wireAuth(config: Readonly<Config>, log: Logger, metrics: Metrics, shared: SharedState) {
  const guard = bruteForceGuard(config, shared.bruteForce, { log, metrics });
  // The token server first: it may generate the certificate that auth.token.rootcertbundle names.
  // One policy object for the registry and its token server, so that SIGHUP replaces the rules for both.
  const policy = config.access ? new AccessPolicy(config.access) : undefined;
  // Imported only when configured, as the UI: what a config does not use stays out of memory.
  const tokenServer = config.tokenserver?.enabled
    ? await (await import('../tokenserver/index.js')).createTokenServer(config, log, guard, policy)
    : null;
  const auth = await createAuth(config, { log, guard, policy });
  if (
    auth.name !== 'none' &&
    auth.name !== 'silly' &&
    config.http.net === 'tcp' &&
    !config.http.tls &&
    !isLoopback(config.http.addr)
  ) {
    log.warn(
      `auth.${auth.name} is configured over plain HTTP on ${config.http.addr}: credentials travel in the clear; configure http.tls or a TLS-terminating proxy`,
    );
  }
  return { auth, policy, tokenServer };
}

function wireHealth(
  config: Readonly<Config>,
  log: Logger,
  driver: StorageDriver,
  writes: StorageWriteState,
  shared: SharedState,
): HealthChecks {
  const sd = config.health.storagedriver;
  const health = new HealthChecks(
    driver,
    { enabled: sd.enabled, intervalMs: sd.interval, threshold: sd.threshold },
    log,
  );
  const redis = shared.redis;
  if (redis) health.addDegradedCheck('redis', () => redis.failure());
  // A full or read-only storage still serves every read: reported, but never unready.
  health.addDegradedCheck('storage', () => {
    writes.recheck(driver);
    return writes.failure();
  });
  health.start();
  return health;
}

function httpSecret(config: Readonly<Config>, log: Logger): string {
  if (config.http.secret) return config.http.secret;
  log.warn(
    'http.secret is not set: a random secret is used; uploads cannot be continued by another instance or after a restart. Set http.secret when running several replicas.',
  );
  return randomBytes(32).toString('hex');
}
