/**
 * Small HTTP helpers for the API end-to-end tests (pull, push, discovery, management, badinput, compat).
 * Like harness.ts they never import src/: they only speak HTTP to a running process.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOCKER_REGISTRY_BIN, startDistribution as startDistributionOn } from './distribution.js';

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
  assert.match(
    res.headers.get('content-type') ?? '',
    /^application\/json/,
    `not a JSON error: ${res.status} ${res.text}`,
  );
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

export const hasDistribution = (): boolean => Boolean(DOCKER_REGISTRY_BIN);

/** Starts `docker-registry serve` with filesystem storage in a temporary directory and delete enabled. */
export async function startDistribution(): Promise<Distribution> {
  const root = mkdtempSync(join(tmpdir(), 'wharf-e2e-distribution-'));
  try {
    const d = await startDistributionOn(root);
    return {
      url: d.url,
      proc: d.proc,
      async cleanup() {
        await d.stop('SIGKILL');
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}
