/** Prometheus metrics, named like Distribution's where it has them (`registry_` namespace). */
import type { Readable } from 'node:stream';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'registry_http_requests_total',
    help: 'HTTP requests by method, route and status code',
    labelNames: ['method', 'route', 'code'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'registry_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly bytesIn = new Counter({
    name: 'registry_http_request_bytes_total',
    help: 'Request body bytes received (counted as they arrive, so streamed uploads without Content-Length count too)',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly bytesOut = new Counter({
    name: 'registry_http_response_bytes_total',
    help: 'Response body bytes sent (as declared by Content-Length; HEAD, 204 and 304 responses send none)',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly uploadsInProgress = new Gauge({
    name: 'registry_uploads_in_progress',
    help: 'Blob upload requests (POST/PATCH/PUT) currently streaming',
    registers: [this.registry],
  });
  readonly storage = new Histogram({
    name: 'registry_storage_action_seconds',
    help: 'Storage driver operation latency by driver, action and outcome',
    labelNames: ['driver', 'action', 'outcome'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly storageFull = new Gauge({
    name: 'registry_storage_full',
    help: '1 while storage refuses writes (full disk, quota or read-only), else 0',
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'registry_auth_failures_total',
    help: 'Refused requests that presented credentials (or were rate-limited), by auth method and error code',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });
  /** Login throttling (src/auth/bruteforce.ts); `reason` is the limit: address, pair (a user name from one address) or user (user-wide). */
  readonly authThrottled = new Counter({
    name: 'registry_auth_throttled_total',
    help: 'Password checks refused with 429 while a login throttle is in force, by the limit that imposed it (address, pair, user)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly authThrottleStarts = new Counter({
    name: 'registry_auth_throttle_starts_total',
    help: 'Login throttles started (a limit reached on a key that had none), by limit (address, pair, user)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** Distribution's notification metrics; `type` is Events (queued), Successes, Failures (non-2xx/3xx), Errors (no answer), and wharf's Dropped (queue full). */
  readonly notificationEvents = new Counter({
    name: 'registry_notifications_events_total',
    help: 'Notification events by endpoint and outcome',
    labelNames: ['type', 'endpoint'] as const,
    registers: [this.registry],
  });
  readonly notificationPending = new Gauge({
    name: 'registry_notifications_pending',
    help: 'Notification events waiting in an endpoint queue',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
  });
  readonly notificationStatus = new Counter({
    name: 'registry_notifications_status_total',
    help: 'Notification POST answers by status and endpoint',
    labelNames: ['code', 'endpoint'] as const,
    registers: [this.registry],
  });

  /** Pull-through cache (src/proxy), per upstream; `type` is manifest or blob. */
  readonly proxyHits = new Counter({
    name: 'registry_proxy_hits_total',
    help: 'Proxied pulls served from the cache, by upstream and type',
    labelNames: ['upstream', 'type'] as const,
    registers: [this.registry],
  });
  readonly proxyMisses = new Counter({
    name: 'registry_proxy_misses_total',
    help: 'Proxied pulls fetched from the upstream, by upstream and type',
    labelNames: ['upstream', 'type'] as const,
    registers: [this.registry],
  });
  readonly proxyBytes = new Counter({
    name: 'registry_proxy_upstream_bytes_total',
    help: 'Bytes received from the upstream, by upstream and type',
    labelNames: ['upstream', 'type'] as const,
    registers: [this.registry],
  });
  readonly proxyErrors = new Counter({
    name: 'registry_proxy_upstream_errors_total',
    help: 'Upstream failures (unreachable, timeout, 5xx, 429, bad content), by upstream and kind',
    labelNames: ['upstream', 'kind'] as const,
    registers: [this.registry],
  });
  readonly proxyStale = new Counter({
    name: 'registry_proxy_stale_served_total',
    help: 'Cached manifests served because the upstream could not be asked',
    labelNames: ['upstream'] as const,
    registers: [this.registry],
  });
  readonly proxyRevalidations = new Counter({
    name: 'registry_proxy_revalidations_total',
    help: 'Expired tags checked with a HEAD upstream, by upstream and outcome (unchanged, changed)',
    labelNames: ['upstream', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly proxyRateLimit = new Gauge({
    name: 'registry_proxy_ratelimit_remaining',
    help: "The upstream's last ratelimit-remaining header",
    labelNames: ['upstream'] as const,
    registers: [this.registry],
  });
  /** The scheduled cleanup (gc.schedule: policies, then garbage collection); only the replica that ran a period counts it. */
  readonly cleanupLastRun = new Gauge({
    name: 'wharf_cleanup_last_run_timestamp_seconds',
    help: 'When the last cleanup run on this replica started (Unix time)',
    registers: [this.registry],
  });
  readonly cleanupLastDuration = new Gauge({
    name: 'wharf_cleanup_last_run_duration_seconds',
    help: 'How long the last cleanup run on this replica took',
    registers: [this.registry],
  });
  readonly cleanupRuns = new Counter({
    name: 'wharf_cleanup_runs_total',
    help: 'Cleanup runs on this replica by outcome (ok, failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly cleanupTagsUntagged = new Counter({
    name: 'wharf_cleanup_tags_untagged_total',
    help: 'Tags removed by the policies',
    registers: [this.registry],
  });
  readonly cleanupManifestsDeleted = new Counter({
    name: 'wharf_cleanup_manifests_deleted_total',
    help: 'Manifests deleted by cleanup runs',
    registers: [this.registry],
  });
  readonly cleanupBlobsDeleted = new Counter({
    name: 'wharf_cleanup_blobs_deleted_total',
    help: 'Blobs deleted by cleanup runs',
    registers: [this.registry],
  });
  readonly cleanupBytesFreed = new Counter({
    name: 'wharf_cleanup_bytes_freed_total',
    help: 'Bytes of blob data deleted by cleanup runs',
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'wharf_' });
  }
}

/**
 * Counts a request's body bytes as the HTTP parser hands them over (`push`), without reading them: a 'data'
 * listener would start the flow before the handler (which may first await auth) attaches, and lose chunks.
 * Returns a function giving the count so far.
 */
export function countBodyBytes(req: Readable): () => number {
  let n = 0;
  const push = req.push;
  req.push = function (this: Readable, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null && chunk !== undefined) n += (chunk as { length: number }).length;
    return push.call(this, chunk, encoding);
  };
  return () => n;
}
