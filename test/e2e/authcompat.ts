/**
 * Side-by-side checks of auth challenges: runs CNCF Distribution (`docker-registry serve`) with a given `auth:`
 * section and sends the same unauthenticated requests to it and to wharf, so tests can compare status,
 * `WWW-Authenticate` and body byte for byte. Skip with `DOCKER_REGISTRY_MISSING` when the binary is absent.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './harness.js';
import { onPath } from './skopeo.js';

export const DOCKER_REGISTRY_BIN = process.env.DOCKER_REGISTRY || onPath('docker-registry');
export const DOCKER_REGISTRY_MISSING = 'docker-registry (CNCF Distribution) is not on PATH (apt-get install docker-registry, or set DOCKER_REGISTRY)';

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

export async function answer(url: string, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
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
  if (!DOCKER_REGISTRY_BIN) throw new Error(DOCKER_REGISTRY_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-distribution-auth-'));
  const port = await freePort();
  const configPath = join(dir, 'config.yml');
  writeFileSync(
    configPath,
    `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: e2e-distribution-secret\nauth:\n${authYaml}`,
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  const proc = spawn(DOCKER_REGISTRY_BIN, ['serve', configPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const d: RunningDistribution = {
    url,
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      await d.stop();
      throw new Error(`docker-registry exited with ${proc.exitCode ?? proc.signalCode}:\n${out}`);
    }
    try {
      const r = await fetch(`${url}/v2/`);
      await r.arrayBuffer();
      break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await d.stop();
      throw new Error(`docker-registry did not become ready:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return d;
}
