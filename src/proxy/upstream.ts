/** One configured upstream at run time: its spec, its HTTP client, and the metrics and log lines about it. */
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { UpstreamClient } from './client.js';
import type { UpstreamSpec } from './config.js';
import { execCredentials, staticCredentials } from './credentials.js';

export type UpstreamErrorKind = 'unreachable' | 'status' | 'content';

export class Upstream {
  readonly client: UpstreamClient;

  constructor(
    readonly spec: UpstreamSpec,
    readonly metrics: Metrics,
    readonly log: Logger,
  ) {
    const credentials = spec.exec
      ? execCredentials(spec.exec.command, spec.exec.lifetimeMs)
      : staticCredentials(spec.username, spec.password);
    this.client = new UpstreamClient({
      url: spec.url,
      credentials,
      timeoutMs: spec.timeoutMs,
      onHeaders: (status, h) => this.answered(status, h),
    });
  }

  get label(): string {
    return this.spec.label;
  }

  static scope(remote: string): string {
    return `repository:${remote}:pull`;
  }

  hit(type: 'manifest' | 'blob'): void {
    this.metrics.proxyHits.inc({ upstream: this.label, type });
  }

  miss(type: 'manifest' | 'blob'): void {
    this.metrics.proxyMisses.inc({ upstream: this.label, type });
  }

  bytes(type: 'manifest' | 'blob', n: number): void {
    this.metrics.proxyBytes.inc({ upstream: this.label, type }, n);
  }

  /** Whether the last attempt to reach the upstream failed (unreachable or 5xx/429): expiry then keeps its content. */
  down = false;

  failed(kind: UpstreamErrorKind, message: string): void {
    if (kind !== 'content') this.down = true;
    this.metrics.proxyErrors.inc({ upstream: this.label, kind });
    this.log.warn({ upstream: this.label, kind }, `upstream ${this.label}: ${message}`);
  }

  /** `ratelimit-remaining: 76;w=21600` (Docker Hub) or a bare number. */
  private answered(status: number, h: IncomingHttpHeaders): void {
    if (status < 500 && status !== 429) this.down = false;
    this.rateLimit(h);
  }

  private rateLimit(h: IncomingHttpHeaders): void {
    const v = h['ratelimit-remaining'] ?? h['x-ratelimit-remaining'];
    const n = typeof v === 'string' ? parseInt(v, 10) : NaN;
    if (Number.isFinite(n)) this.metrics.proxyRateLimit.set({ upstream: this.label }, n);
  }
}
