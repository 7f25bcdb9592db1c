/**
 * Helpers for the operational end-to-end tests (health, metrics, lifecycle, purging, logs). Like harness.ts they
 * never import src/: they speak HTTP to a running process, send it signals and read what it logs.
 */
import { request, type Agent, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { startWharf, type Wharf } from './harness.js';

/** Runs `fn` against a wharf started with config `cfg` (in `dir`, if given), then stops it and removes its files. */
export async function withWharf(cfg: string, fn: (w: Wharf) => Promise<void>, dir?: string): Promise<void> {
  const w = await startWharf({ config: cfg, dir });
  try {
    await fn(w);
  } finally {
    await w.cleanup();
  }
}

/** Polls `check` until it holds or `ms` pass; returns whether it held. */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 10_000, every = 50): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, every));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with the process exit code, or null when it has not exited within `ms`. */
export async function exitWithin(
  proc: { exitCode: number | null; signalCode: NodeJS.Signals | null; once(e: 'exit', f: () => void): unknown },
  ms: number,
): Promise<number | null> {
  if (proc.exitCode !== null) return proc.exitCode;
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    proc.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
  return proc.exitCode;
}

/** Whether a TCP connection to 127.0.0.1:port is refused (ECONNREFUSED). */
export function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e) => resolve((e as NodeJS.ErrnoException).code === 'ECONNREFUSED'));
  });
}

/** One Prometheus sample: metric name, labels and value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (comments skipped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include `labels` (0 when there are none). */
export function metric(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

export async function scrape(url: string): Promise<Sample[]> {
  const r = await fetch(url);
  const text = await r.text();
  if (r.status !== 200) throw new Error(`scrape ${url}: ${r.status} ${text}`);
  return parseMetrics(text);
}

/**
 * A request whose body is streamed by hand (chunked, no Content-Length): `write` sends a piece, `end` finishes,
 * `response` resolves with status and body, or rejects when the server cuts the connection.
 */
export interface SlowRequest {
  write(data: Buffer | string): Promise<void>;
  end(): void;
  response: Promise<{ status: number; headers: IncomingMessage['headers']; body: string }>;
}

export function slowRequest(
  url: string,
  method: string,
  headers: Record<string, string> = {},
  agent?: Agent,
): SlowRequest {
  const req = request(url, {
    method,
    headers: { 'Content-Type': 'application/octet-stream', ...headers },
    agent: agent ?? false,
  });
  const response = new Promise<{ status: number; headers: IncomingMessage['headers']; body: string }>(
    (resolve, reject) => {
      req.once('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.once('error', reject);
      });
      req.once('error', reject);
    },
  );
  response.catch(() => undefined);
  return {
    write: (data) => new Promise((resolve, reject) => req.write(data, (err) => (err ? reject(err) : resolve()))),
    end: () => req.end(),
    response,
  };
}

/** The lines of `output` that parse as JSON objects. */
export function jsonLines(output: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    out.push(JSON.parse(line) as Record<string, unknown>);
  }
  return out;
}
