/**
 * Operational endpoints: `/debug/health` (Distribution's body: `{}` or failing check -> message, 503),
 * `/livez` and `/readyz` for Kubernetes probes, and Prometheus metrics. Served on `http.debug.addr`; the probes
 * are also answered on the main server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthChecks } from '../health.js';
import type { Metrics } from '../metrics.js';

export interface DebugOptions {
  health: HealthChecks;
  metrics: Metrics;
  /** Path of the metrics endpoint, or null when `http.debug.prometheus.enabled` is false. */
  metricsPath: string | null;
  /** False while starting or draining: readiness fails so load balancers stop sending traffic. */
  ready: () => boolean;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache',
  });
  res.end(text);
}

/** Answers a probe path and returns true, or returns false when `path` is not a probe. */
export function answerProbe(path: string, res: ServerResponse, opts: DebugOptions): boolean {
  if (path === '/livez') {
    json(res, 200, { status: 'ok' });
    return true;
  }
  if (path === '/readyz') {
    const s = opts.health.status();
    const ready = s.healthy && opts.ready();
    const degraded = Object.keys(s.degraded).length > 0 ? { degraded: s.degraded } : {};
    json(
      res,
      ready ? 200 : 503,
      ready
        ? { status: 'ok', ...degraded }
        : { status: 'unavailable', failures: s.failures, draining: !opts.ready(), ...degraded },
    );
    return true;
  }
  return false;
}

export function debugHandler(opts: DebugOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (answerProbe(path, res, opts)) return;
    if (path === '/debug/health') {
      // Degraded checks are listed with the failures, but only real failures answer 503 (see health.ts).
      const s = opts.health.status();
      json(res, s.healthy ? 200 : 503, { ...s.degraded, ...s.failures });
      return;
    }
    if (opts.metricsPath !== null && path === opts.metricsPath) {
      opts.metrics.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'Content-Type': opts.metrics.registry.contentType });
          res.end(text);
        })
        .catch(() => {
          res.writeHead(500);
          res.end();
        });
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('404 page not found\n');
  };
}
