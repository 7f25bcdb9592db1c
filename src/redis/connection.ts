/**
 * One Redis connection shared by everything that keeps state across replicas (blob descriptor cache, upload
 * locks, brute-force counters), on ioredis.
 *
 * Redis is an accelerator and a coordinator, never the source of truth: when it is unreachable, slow or
 * failing, `run()` answers `undefined` at once (no offline queue) or after the command timeout, and callers
 * fall back to storage or to state local to this process. The outage is logged once, and so is the recovery.
 * A command that times out on a live connection opens the circuit too; a PING every second closes it again.
 * Before the circuit closes, the `onRecover` hooks run (e.g. replaying cache invalidations missed meanwhile).
 */
import { readFileSync } from 'node:fs';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConfig } from '../config/schema.js';

export type RedisClient = Redis | Cluster;

function hostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  if (i <= 0) return { host: addr, port: 6379 };
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) || 6379 };
}

/** ioredis options from the `redis` section. */
export function redisOptions(c: RedisConfig): { addrs: Array<{ host: string; port: number }>; options: RedisOptions } {
  const addrs = (c.addrs && c.addrs.length > 0 ? c.addrs : [c.addr!]).map(hostPort);
  const options: RedisOptions = {
    username: c.username,
    password: c.password,
    db: c.db,
    connectionName: c.clientname,
    connectTimeout: c.dialtimeout || 5000,
    // ioredis has one timeout per command (write and reply): the larger of the two configured.
    commandTimeout: Math.max(c.readtimeout, c.writetimeout) || 3000,
    // Fail at once while disconnected instead of queueing: callers fall back to storage.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    lazyConnect: true,
  };
  if (c.tls.enabled) {
    options.tls = {
      cert: c.tls.certificate ? readFileSync(c.tls.certificate) : undefined,
      key: c.tls.key ? readFileSync(c.tls.key) : undefined,
      ca: c.tls.clientcas.length > 0 ? c.tls.clientcas.map((f) => readFileSync(f)) : undefined,
    };
  }
  return { addrs, options };
}

export class RedisConnection {
  readonly client: RedisClient;
  private usable = false;
  /** Whether the current outage has been logged (one line per outage). */
  private reportedDown = false;
  private downSince = Date.now();
  private lastError = 'not connected yet';
  private probe: NodeJS.Timeout | null = null;
  private recovering: Promise<void> | null = null;
  private closed = false;
  private readonly hooks: Array<() => Promise<void>> = [];

  constructor(
    config: RedisConfig,
    private readonly log: Logger,
  ) {
    const { addrs, options } = redisOptions(config);
    this.client =
      addrs.length > 1
        ? new Cluster(addrs, {
            redisOptions: options,
            enableOfflineQueue: false,
            clusterRetryStrategy: options.retryStrategy,
          })
        : new Redis({ ...options, host: addrs[0].host, port: addrs[0].port });
    this.client.on('ready', () => void this.recover());
    this.client.on('error', (err: Error) => {
      this.lastError = err.message || String(err);
    });
    this.client.on('close', () => this.down('connection closed'));
    this.client.on('end', () => this.down('connection ended'));
    // Connecting is not awaited: the registry serves (from storage) while Redis is still out of reach.
    this.client.connect().catch((err: Error) => this.down(err.message));
    this.probe = setInterval(() => void this.ping(), 1000);
    this.probe.unref();
  }

  /** Runs `hook` every time Redis becomes usable again, before any caller uses it. */
  onRecover(hook: () => Promise<void>): void {
    this.hooks.push(hook);
  }

  get up(): boolean {
    return this.usable;
  }

  /**
   * Runs `fn` against Redis when it is usable; `undefined` when it is not, or when the command fails (which opens
   * the circuit until the next successful PING).
   */
  async run<T>(fn: (c: RedisClient) => Promise<T>): Promise<T | undefined> {
    if (!this.usable) return undefined;
    try {
      return await fn(this.client);
    } catch (err) {
      this.down((err as Error).message);
      return undefined;
    }
  }

  /** For health checks: null when usable, else why not. */
  failure(): string | null {
    return this.usable ? null : `redis unavailable: ${this.lastError}`;
  }

  private down(reason: string): void {
    if (this.closed) return;
    this.lastError = reason || this.lastError;
    if (this.usable) this.downSince = Date.now();
    this.usable = false;
    if (!this.reportedDown) {
      this.reportedDown = true;
      this.log.warn(
        { err: this.lastError },
        'redis: unavailable; serving from storage without the shared cache, upload locks and brute-force counters are local to this replica until it is back',
      );
    }
  }

  private async ping(): Promise<void> {
    if (this.usable || this.closed || this.client.status !== 'ready') return;
    try {
      await this.client.ping();
      await this.recover();
    } catch (err) {
      this.lastError = (err as Error).message;
    }
  }

  private recover(): Promise<void> {
    if (this.usable || this.closed) return Promise.resolve();
    this.recovering ??= (async () => {
      try {
        for (const hook of this.hooks) await hook();
        this.usable = true;
        if (this.reportedDown)
          this.log.info(`redis: available again after ${Math.round((Date.now() - this.downSince) / 1000)}s`);
        else this.log.info('redis: connected');
        this.reportedDown = false;
      } catch (err) {
        this.down((err as Error).message);
      }
      // Cleared in a .finally(), not in the body: with no hooks the body never awaits, so a `finally` inside it
      // would run before `??=` stores the promise, which would then stay set and block every later recovery.
    })().finally(() => {
      this.recovering = null;
    });
    return this.recovering;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.usable = false;
    if (this.probe) clearInterval(this.probe);
    this.client.disconnect();
  }
}
