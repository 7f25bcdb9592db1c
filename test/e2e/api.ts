/**
 * Small HTTP helpers for the API end-to-end tests (pull, push, discovery, management, badinput, compat).
 * Like harness.ts they never import src/: they only speak HTTP to a running process.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './harness.js';

export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
/** The digest of the two bytes `{}`: the OCI empty descriptor. */
export const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  body: Buffer;
}

/** One request; `path` is either a full URL or a path (with query) on `base`. Redirects are not followed. */
export async function call(base: string, path: string, init: RequestInit = {}): Promise<Res> {
  const url = /^https?:/.test(path) ? path : `${base}${path}`;
  const r = await fetch(url, { redirect: 'manual', ...init });
  const body = Buffer.from(await r.arrayBuffer());
  return { status: r.status, headers: r.headers, text: body.toString('utf8'), body };
}

/** The error codes of an OCI error body, in order; fails when the body is not one. */
export function codes(res: Res): string[] {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `not a JSON error: ${res.status} ${res.text}`);
  const j = JSON.parse(res.text) as { errors: Array<{ code: string }> };
  assert.ok(Array.isArray(j.errors) && j.errors.length > 0, `no errors in ${res.text}`);
  return j.errors.map((e) => e.code);
}

/** Asserts status and first error code, and that the body looks like the spec's error envelope. */
export function assertError(res: Res, status: number, code: string): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${res.text}`);
  assert.equal(codes(res)[0], code);
  assertNoStack(res.text);
}

/** No response body may leak a stack trace or a local path. */
export function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /\n\s+at |node:internal|\.js:\d+|\.ts:\d+|\/tmp\//, `response leaks internals: ${text}`);
}

/** The path and query of a Location header (absolute or relative). */
export function rel(location: string | null): string {
  assert.ok(location, 'missing Location');
  const u = new URL(location, 'http://placeholder');
  return `${u.pathname}${u.search}`;
}

/** Opens an upload session; returns the relative Location to continue it. */
export async function startSession(base: string, name: string): Promise<string> {
  const r = await call(base, `/v2/${name}/blobs/uploads/`, { method: 'POST' });
  assert.equal(r.status, 202, r.text);
  return rel(r.headers.get('location'));
}

/** Appends a query parameter to a relative URL that may already have a query. */
export function withQuery(path: string, key: string, value: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(value)}`;
}

/**
 * Sends raw bytes on a fresh TCP connection, half-closes it, and returns what the server wrote before closing.
 * Used where fetch refuses to send a request (a Content-Length that lies).
 */
export async function rawHttp(port: number, request: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve(out) : reject(e)));
    s.on('close', () => resolve(out));
    s.on('connect', () => s.end(request));
  });
}

/** A running `docker-registry` (CNCF Distribution), for side-by-side comparisons. */
export interface Distribution {
  url: string;
  proc: ChildProcess;
  cleanup(): Promise<void>;
}

export const DISTRIBUTION_BIN = '/usr/bin/docker-registry';
export const hasDistribution = (): boolean => existsSync(DISTRIBUTION_BIN);

/** Starts `docker-registry serve` with filesystem storage in a temporary directory and delete enabled. */
export async function startDistribution(): Promise<Distribution> {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-distribution-'));
  const port = await freePort();
  const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, 'data')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
  secret: e2e-test-secret
`;
  writeFileSync(join(dir, 'config.yml'), config);
  const proc = spawn(DISTRIBUTION_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const d: Distribution = {
    url,
    proc,
    async cleanup() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await d.cleanup();
      throw new Error(`docker-registry exited with ${proc.exitCode}:\n${out}`);
    }
    try {
      const r = await fetch(`${url}/v2/`);
      await r.arrayBuffer();
      break;
    } catch {
      if (Date.now() > deadline) {
        await d.cleanup();
        throw new Error(`docker-registry did not become ready:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return d;
}
