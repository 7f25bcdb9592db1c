/**
 * Side-by-side checks of auth challenges: runs CNCF Distribution (`docker-registry serve`) with a given `auth:`
 * section and sends the same unauthenticated requests to it and to wharf, so tests can compare status,
 * `WWW-Authenticate` and body byte for byte. Skip with `DOCKER_REGISTRY_MISSING` when the binary is absent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDistribution } from './distribution.js';

export { DOCKER_REGISTRY_BIN, DOCKER_REGISTRY_MISSING } from './distribution.js';

/** The unauthenticated requests whose challenges both registries must answer alike. */
export const CHALLENGED_REQUESTS: Array<{ method: string; path: string }> = [
  { method: 'GET', path: '/v2/' },
  { method: 'GET', path: '/v2/_catalog' },
  { method: 'GET', path: '/v2/foo/tags/list' },
  { method: 'HEAD', path: '/v2/foo/manifests/latest' },
  { method: 'PUT', path: '/v2/foo/manifests/latest' },
  { method: 'DELETE', path: `/v2/foo/manifests/sha256:${'a'.repeat(64)}` },
  { method: 'POST', path: '/v2/foo/bar/blobs/uploads/' },
  { method: 'POST', path: '/v2/foo/blobs/uploads/?from=library/bar' },
  { method: 'POST', path: `/v2/foo/blobs/uploads/?mount=sha256:${'b'.repeat(64)}&from=library/bar` },
];

export interface Answer {
  status: number;
  challenge: string | null;
  body: string;
}

export async function answer(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const r = await fetch(url + path, { method, headers });
  return { status: r.status, challenge: r.headers.get('www-authenticate'), body: await r.text() };
}

export interface RunningDistribution {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts docker-registry with `authYaml` (the lines under `auth:`, indented by two) and waits until it answers. */
export async function startDistributionWithAuth(authYaml: string): Promise<RunningDistribution> {
  const root = mkdtempSync(join(tmpdir(), 'wharf-e2e-distribution-auth-'));
  try {
    const d = await startDistribution(root, `auth:\n${authYaml}`);
    return {
      url: d.url,
      output: () => d.output(),
      async stop() {
        await d.stop('SIGKILL');
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}
