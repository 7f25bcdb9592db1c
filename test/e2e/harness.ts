/**
 * End-to-end harness: starts the built `wharf serve` as a real process on a free port with a temporary
 * config and data directory. Never imports src/: it only runs dist/src/main.js.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The wharf under test; WHARF_E2E_MAIN points the e2e tests at another build (e.g. to see a test fail without a fix). */
export const MAIN = process.env.WHARF_E2E_MAIN || fileURLToPath(new URL('../../src/main.js', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Wharf {
  url: string;
  port: number;
  /** Temporary directory holding config.yml and (by default) the data directory `data/`. */
  dir: string;
  dataDir: string;
  proc: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Stops the process and removes the temporary directory. */
  cleanup(): Promise<void>;
}

export interface StartOptions {
  /** config.yml text; `{{port}}`, `{{data}}` and `{{dir}}` are replaced. Default: filesystem under dir/data, delete enabled. */
  config?: string;
  env?: Record<string, string>;
  /** Reuse a directory (e.g. to restart on the same data). */
  dir?: string;
  /** Extra CLI arguments after `serve <config>`; when `args` is given it replaces `serve <config>` entirely. */
  args?: string[];
  /** Wait until GET /v2/ answers (default true). */
  waitReady?: boolean;
  /**
   * The config serves HTTPS (`http.tls`): `url` is `https://127.0.0.1:<port>` and readiness is polled over TLS
   * trusting the PEM file `ca`, presenting the client pair `cert` + `key` when given (for `clientcas`).
   */
  tls?: { ca: string; cert?: string; key?: string };
  /** The address in `url` and polled for readiness (default 127.0.0.1); the config must listen there. */
  host?: string;
  /** A command that runs wharf as its child, e.g. `['strace', '-f', '-o', file]`; stop() signals wharf itself. */
  wrap?: string[];
}

export interface TestConfigParts {
  /** `log.level` (default warn; info where a test reads the log). */
  logLevel?: string;
  /** Write the access log (default off: most tests never read it). */
  accessLog?: boolean;
  /** Every line under `log:`, indented by two, instead of the level and access log above (formatter, fields). */
  log?: string;
  /** Lines under `storage:` besides the filesystem driver, indented by two (default: delete enabled). */
  storage?: string;
  /** Listening address (default 127.0.0.1). */
  host?: string;
  /** Lines under `http:` besides addr and secret, indented by two (e.g. `  tls:` ...). */
  http?: string;
  /** Top-level YAML appended (`auth:`, `notifications:`, ...). */
  extra?: string;
}

/** A test config.yml (`{{port}}`, `{{data}}`, `{{dir}}` placeholders): filesystem storage, quiet, fixed secret. */
export function testConfig(p: TestConfigParts = {}): string {
  const log = p.log ?? `  level: ${p.logLevel ?? 'warn'}\n  accesslog:\n    disabled: ${!p.accessLog}\n`;
  return `version: 0.1
log:
${log}storage:
  filesystem:
    rootdirectory: {{data}}
${p.storage ?? '  delete:\n    enabled: true\n'}http:
  addr: ${p.host ?? '127.0.0.1'}:{{port}}
  secret: e2e-test-secret
${p.http ?? ''}${p.extra ?? ''}`;
}

export const DEFAULT_TEST_CONFIG = testConfig();

/** The default test config with more top-level YAML appended (an `auth:` section, `ui:`, ...). */
export function configWith(extra: string): string {
  return DEFAULT_TEST_CONFIG + extra;
}

export async function startWharf(opts: StartOptions = {}): Promise<Wharf> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'wharf-e2e-'));
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const configPath = join(dir, 'config.yml');
  const text = (opts.config ?? DEFAULT_TEST_CONFIG)
    .replaceAll('{{port}}', String(port))
    .replaceAll('{{data}}', dataDir)
    .replaceAll('{{dir}}', dir);
  writeFileSync(configPath, text);
  const args = opts.args ?? ['serve', configPath];
  const command = [...(opts.wrap ?? []), process.execPath, MAIN, ...args];
  // The process guard is off: a request that crashes wharf must show as a dead process, not as a log line.
  const proc = spawn(command[0], command.slice(1), {
    env: { ...cleanEnv(), WHARF_PROCESS_GUARD: 'off', ...(opts.env ?? {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = `${opts.tls ? 'https' : 'http'}://${opts.host ?? '127.0.0.1'}:${port}`;
  const w: Wharf = {
    url,
    port,
    dir,
    dataDir,
    proc,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      // A wrapper (strace) outlives a signal of its own: signal wharf, its child, and the wrapper ends with it.
      const children = opts.wrap ? childPids(proc.pid!) : [];
      const target = children.length > 0 ? children : [proc.pid!];
      for (const pid of target) process.kill(pid, signal);
      return exited;
    },
    async cleanup() {
      await w.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (opts.waitReady !== false) {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`wharf exited with ${proc.exitCode}:\n${out}`);
      try {
        if (opts.tls) await httpsStatus(`${url}/v2/`, opts.tls);
        else await (await fetch(`${url}/v2/`)).arrayBuffer();
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`wharf did not become ready:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
  return w;
}

/** GET over HTTPS trusting `tls.ca` (Node's fetch cannot be given a CA); resolves with the status code. */
export function httpsStatus(
  url: string,
  tls: { ca: string; cert?: string; key?: string },
  headers: Record<string, string> = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        ca: readFileSync(tls.ca),
        cert: tls.cert && readFileSync(tls.cert),
        key: tls.key && readFileSync(tls.key),
        headers,
        agent: false,
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.end();
  });
}

/** The direct children of a process (Linux). */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The environment without REGISTRY_* variables of the caller. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  return env;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Monolithic single-POST blob upload; returns the digest. */
export async function pushBlob(url: string, name: string, data: Buffer | string): Promise<string> {
  const digest = sha256(data);
  const r = await fetch(`${url}/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    body: typeof data === 'string' ? data : new Uint8Array(data),
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  await r.arrayBuffer();
  if (r.status !== 201) throw new Error(`blob push failed: ${r.status}`);
  return digest;
}

export async function pushManifest(
  url: string,
  name: string,
  ref: string,
  manifest: unknown,
  mediaType: string,
): Promise<Response> {
  const body = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
  return fetch(`${url}/v2/${name}/manifests/${ref}`, { method: 'PUT', body, headers: { 'Content-Type': mediaType } });
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** Pushes a config and one layer and returns an OCI image manifest referencing them (not yet pushed). */
export async function makeImage(
  url: string,
  name: string,
  seed = 'x',
): Promise<{ manifest: Record<string, unknown>; config: string; layer: string }> {
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const layerBytes = Buffer.from(`layer-${seed}-${'z'.repeat(100)}`);
  const config = await pushBlob(url, name, configBytes);
  const layer = await pushBlob(url, name, layerBytes);
  return {
    config,
    layer,
    manifest: {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config, size: configBytes.length },
      layers: [{ mediaType: OCI_LAYER, digest: layer, size: layerBytes.length }],
    },
  };
}

/** Repository names (directories holding `_` entries) in a filesystem data directory, sorted. */
export function storedRepositories(dataDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, prefix: string) => {
    if (!existsSync(dir)) return;
    const entries = readdirSync(dir);
    if (entries.some((e) => e.startsWith('_'))) out.push(prefix);
    for (const e of entries) if (!e.startsWith('_')) walk(join(dir, e), prefix ? `${prefix}/${e}` : e);
  };
  walk(join(dataDir, 'docker/registry/v2/repositories'), '');
  return out.sort();
}
