/**
 * Helpers for the robustness e2e tests (robust-*.test.ts): raw HTTP exchanges on a socket, parsing what came back,
 * and what the data directory holds. Like harness.ts they never import src/.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, relative } from 'node:path';

export interface RawResult {
  /** Everything the server wrote, as latin1. */
  text: string;
  /** How the exchange ended: the server closed (or reset) the connection, or we gave up waiting. */
  end: 'closed' | 'reset' | 'timeout';
}

/**
 * Writes `data` on a fresh connection (half-closing after it unless `keepOpen`) and collects the answer until
 * the server closes, or `timeoutMs` passes (then the socket is destroyed and `end` is 'timeout').
 */
export function raw(
  port: number,
  data: Buffer | string,
  opts: { keepOpen?: boolean; timeoutMs?: number } = {},
): Promise<RawResult> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (end: RawResult['end']) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, end });
    };
    const timer = setTimeout(() => finish('timeout'), opts.timeoutMs ?? 5000);
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => finish('reset'));
    s.on('close', () => finish('closed'));
    s.on('connect', () => (opts.keepOpen ? s.write(data) : s.end(data)));
  });
}

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The first final (non-1xx) HTTP response in `text`, or null when there is none. */
export function firstResponse(text: string): ParsedResponse | null {
  text = text.replace(/^(?:HTTP\/1\.[01] 1\d\d[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n)+/, '');
  const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(text);
  if (!m) return null;
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const headers: Record<string, string> = {};
  for (const line of text.slice(m[0].length, headEnd).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = text.slice(headEnd + 4);
  const len = headers['content-length'];
  if (len !== undefined) body = body.slice(0, Number(len));
  return { status: Number(m[1]), headers, body };
}

/** Asserts an OCI JSON error answer with one of `statuses`; returns its error codes. */
export function assertJsonError(r: ParsedResponse | null, statuses: number[], what: string): string[] {
  assert.ok(r, `${what}: no HTTP response`);
  assert.ok(
    statuses.includes(r.status),
    `${what}: status ${r.status}, expected one of ${statuses.join(', ')}: ${r.body}`,
  );
  assert.match(r.headers['content-type'] ?? '', /^application\/json/, `${what}: not JSON: ${r.body}`);
  assert.equal(r.headers['docker-distribution-api-version'], 'registry/2.0', `${what}: no API version header`);
  const j = JSON.parse(r.body) as { errors: Array<{ code: string; message: string }> };
  assert.ok(Array.isArray(j.errors) && j.errors.length > 0, `${what}: no errors in ${r.body}`);
  assert.doesNotMatch(
    r.body,
    /\n\s+at |node:internal|\.js:\d+|\/tmp\/|\/work\//,
    `${what}: body leaks internals: ${r.body}`,
  );
  return j.errors.map((e) => e.code);
}

/** Every file under `dir`, relative, sorted. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (
    readdirSync(dir, { recursive: true, withFileTypes: true }) as Array<{
      name: string;
      parentPath?: string;
      path?: string;
      isFile(): boolean;
    }>
  )
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath ?? e.path ?? '', e.name)))
    .sort();
}

/** The link files of repository `name` (layers, revisions, tags) in a data directory. */
export function repoLinks(dataDir: string, name: string): string[] {
  return filesUnder(join(dataDir, 'docker/registry/v2/repositories', name)).filter((f) => f.endsWith('link'));
}

/** Whether the process of `pid` is still running. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A small deterministic PRNG (mulberry32), so that a failing run can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The content of a link file, or null. */
export function readLink(path: string): string | null {
  return existsSync(path) ? readFileSync(path, 'utf8') : null;
}
