/**
 * `notifications`: turns registry events into Distribution's webhook POSTs, one queue per endpoint (Distribution's
 * broadcaster). The HTTP layer sees only `Notifier.write`; configure() swaps the endpoints on SIGHUP.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { EndpointConfig, NotificationsConfig } from '../config/schema.js';
import type { Metrics } from '../metrics.js';
import { Endpoint, type EndpointHooks } from './endpoint.js';
import { buildEvent, type Event, type EventContext, type EventInput, type SourceRecord } from './event.js';
import { httpSender, redactedUrl, type Sender } from './http.js';

export type { EventContext, EventInput } from './event.js';

export interface NotifierOptions {
  log: Logger;
  /** http.addr: its port goes into `source.addr` after the host name, as in Distribution. */
  httpAddr: string;
  hooks?: EndpointHooks;
  /** Events each endpoint holds while it is down (default 1000). */
  queueSize?: number;
  /** For tests: how an endpoint POSTs. */
  sender?: (endpoint: EndpointConfig) => Sender;
}

/** Distribution's source.addr: the host name and the configured port. */
export function sourceAddr(httpAddr: string, host = hostname()): string {
  const i = httpAddr.lastIndexOf(':');
  const port = i >= 0 ? httpAddr.slice(i + 1) : '';
  return /^\d+$/.test(port) ? `${host}:${port}` : host;
}

export class Notifier {
  private endpoints: Endpoint[] = [];
  /** The endpoint configs in force, to keep unchanged endpoints (and their queues) across a reload. */
  private configs: string[] = [];
  private includeReferences = false;
  readonly source: SourceRecord;

  constructor(
    config: NotificationsConfig,
    private readonly opts: NotifierOptions,
  ) {
    this.source = { addr: sourceAddr(opts.httpAddr), instanceID: randomUUID() };
    this.configure(config);
  }

  /** Whether any endpoint is active: handlers skip building events when none is. */
  get enabled(): boolean {
    return this.endpoints.length > 0;
  }

  /** Builds the event and hands it to every endpoint; never throws, never waits. */
  write(input: EventInput, ctx: EventContext): void {
    if (this.endpoints.length === 0) return;
    let event: Event;
    try {
      event = buildEvent(input, ctx, { source: this.source, includeReferences: this.includeReferences });
    } catch (err) {
      this.opts.log.error({ err }, 'notifications: cannot build an event');
      return;
    }
    for (const e of this.endpoints) e.write(event);
  }

  /**
   * Applies `notifications` from a (re-read) config: endpoints whose settings did not change keep running with
   * their queues; the others are stopped (their queued events are lost) and rebuilt. Returns the active names.
   */
  configure(config: NotificationsConfig): string[] {
    const { log } = this.opts;
    this.includeReferences = config.events.includereferences;
    const keep = new Map<string, Endpoint>();
    this.endpoints.forEach((e, i) => keep.set(this.configs[i], e));
    const next: Endpoint[] = [];
    const nextConfigs: string[] = [];
    for (const ec of config.endpoints) {
      if (ec.disabled) {
        log.info(`notifications: endpoint ${ec.name} disabled, skipping`);
        continue;
      }
      const key = JSON.stringify(ec);
      const existing = keep.get(key);
      if (existing) {
        keep.delete(key);
        next.push(existing);
      } else {
        next.push(this.create(ec));
      }
      nextConfigs.push(key);
    }
    for (const old of keep.values()) {
      const lost = old.stop();
      if (lost > 0)
        log.warn(
          `notifications: endpoint ${old.name} was reconfigured or removed; ${lost} queued events were discarded`,
        );
    }
    this.endpoints = next;
    this.configs = nextConfigs;
    return next.map((e) => e.name);
  }

  /** Stops every endpoint (queued events are discarded, as Distribution's in-memory queues are on exit). */
  close(): void {
    for (const e of this.endpoints) e.stop();
    this.endpoints = [];
    this.configs = [];
  }

  /** For tests: resolves when every endpoint has delivered what it holds. */
  async drained(): Promise<void> {
    await Promise.all(this.endpoints.map((e) => e.drained()));
  }

  private create(ec: EndpointConfig): Endpoint {
    const url = ec.url!;
    const displayUrl = redactedUrl(url);
    // Header names only: their values may be tokens.
    this.opts.log.info(
      {
        endpoint: ec.name,
        url: displayUrl,
        timeout_ms: ec.timeout,
        threshold: ec.threshold,
        backoff_ms: ec.backoff,
        headers: Object.keys(ec.headers),
      },
      `notifications: configuring endpoint ${ec.name} (${displayUrl})`,
    );
    return new Endpoint({
      name: ec.name,
      displayUrl,
      send: this.opts.sender ? this.opts.sender(ec) : httpSender({ url, headers: ec.headers, timeoutMs: ec.timeout }),
      threshold: ec.threshold,
      backoffMs: ec.backoff,
      ignoreMediaTypes: [...ec.ignoredmediatypes, ...ec.ignore.mediatypes],
      ignoreActions: ec.ignore.actions,
      queueSize: this.opts.queueSize,
      log: this.opts.log,
      hooks: this.opts.hooks,
    });
  }
}

/** Endpoint hooks that feed the Prometheus metrics, labelled as Distribution labels them. */
export function metricsHooks(metrics: Metrics): EndpointHooks {
  const status = (code: number) => `${code} ${STATUS_CODES[code] ?? ''}`.trim();
  return {
    queued: (endpoint) => metrics.notificationEvents.inc({ type: 'Events', endpoint }),
    success: (endpoint, code) => {
      metrics.notificationEvents.inc({ type: 'Successes', endpoint });
      metrics.notificationStatus.inc({ code: status(code), endpoint });
    },
    failure: (endpoint, code) => {
      metrics.notificationEvents.inc({ type: 'Failures', endpoint });
      metrics.notificationStatus.inc({ code: status(code), endpoint });
    },
    error: (endpoint) => metrics.notificationEvents.inc({ type: 'Errors', endpoint }),
    dropped: (endpoint) => metrics.notificationEvents.inc({ type: 'Dropped', endpoint }),
    pending: (endpoint, n) => metrics.notificationPending.set({ endpoint }, n),
  };
}
