/** Prometheus metrics, named like Distribution's where it has them (`registry_` namespace). */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'registry_http_requests_total', help: 'HTTP requests by method, route and status code', labelNames: ['method', 'route', 'code'] as const, registers: [this.registry] });
  readonly duration = new Histogram({
    name: 'registry_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly bytesIn = new Counter({ name: 'registry_http_request_bytes_total', help: 'Request body bytes received (as declared by Content-Length, or counted for streamed uploads)', labelNames: ['route'] as const, registers: [this.registry] });
  readonly bytesOut = new Counter({ name: 'registry_http_response_bytes_total', help: 'Response body bytes sent (as declared by Content-Length)', labelNames: ['route'] as const, registers: [this.registry] });
  readonly uploadsInProgress = new Gauge({ name: 'registry_uploads_in_progress', help: 'Blob upload requests (POST/PATCH/PUT) currently streaming', registers: [this.registry] });
  readonly storage = new Histogram({
    name: 'registry_storage_action_seconds',
    help: 'Storage driver operation latency by driver, action and outcome',
    labelNames: ['driver', 'action', 'outcome'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly authFailures = new Counter({ name: 'registry_auth_failures_total', help: 'Refused authentications by auth method and error code', labelNames: ['method', 'code'] as const, registers: [this.registry] });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'wharf_' });
  }
}
