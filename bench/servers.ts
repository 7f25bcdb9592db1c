/**
 * The two servers under test, each started as its own process on a free loopback port with the same
 * config (filesystem storage in a fresh temp dir, delete enabled, quiet logs, no access log, same secret).
 * Never imports src/: wharf is run from dist/src/main.js like any user would.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keepAliveAgent, send } from './http.js';

export type ServerKind = 'wharf' | 'docker-registry';

export const WHARF_MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
/** The node flags of WHARF_MAIN's `#!/usr/bin/env -S node ...` line: wharf runs as its installed command does. */
const WHARF_NODE_FLAGS = (/^#!\S*env -S node (.*)$/m.exec(readFileSync(WHARF_MAIN, 'utf8').split('\n')[0]) ?? [
  '',
  '',
])[1]
  .split(' ')
  .filter(Boolean);
export const DOCKER_REGISTRY = '/usr/bin/docker-registry';

export interface RunningServer {
  kind: ServerKind;
  url: string;
  pid: number;
  dir: string;
  /** Everything the process wrote so far (warnings and errors only, given the log level). */
  output(): string;
  /** Kills the process (SIGKILL after a short grace) and removes its temp dir; safe to call twice. */
  cleanup(): Promise<void>;
}

export interface StartOptions {
  /** Serve this data directory (kept on cleanup) instead of a fresh one. */
  dataDir?: string;
  /** Extra top-level YAML (e.g. an `auth:` section). */
  extra?: string;
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { certificate: string; key: string; ca: Buffer };
  /** Extra node options for wharf (e.g. `--cpu-prof`); ignored for docker-registry. */
  nodeArgs?: string[];
}

function config(port: number, dataDir: string, opts: StartOptions = {}): string {
  const tls = opts.tls ? `  tls:\n    certificate: ${opts.tls.certificate}\n    key: ${opts.tls.key}\n` : '';
  return baseConfig(port, dataDir) + tls + (opts.extra ?? '');
}

function baseConfig(port: number, dataDir: string): string {
  return `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: ${dataDir}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
  secret: wharf-bench-shared-secret
`;
}

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

/** Runs a command with inherited output (so the user sees what apt does); returns its exit code. */
function run(cmd: string, args: string[]): number {
  process.stdout.write(`$ ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 600_000,
  });
  return r.status ?? 1;
}

let aptUpdated = false;

/** Installs a Debian package when `binary` is missing. Throws when that fails. */
export function ensureDebianPackage(pkg: string, binary: string): void {
  if (existsSync(binary)) return;
  process.stdout.write(`${binary} is missing: installing the Debian package ${pkg}\n`);
  if (!aptUpdated) {
    if (run('apt-get', ['update']) !== 0) throw new Error('apt-get update failed');
    aptUpdated = true;
  }
  if (run('apt-get', ['install', '-y', pkg]) !== 0 || !existsSync(binary))
    throw new Error(`apt-get install -y ${pkg} failed`);
}

export async function startServer(kind: ServerKind, opts: StartOptions = {}): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), `bench-${kind}-`));
  let proc: ChildProcess | undefined;
  let out = '';
  const server: RunningServer = {
    kind,
    url: '',
    pid: 0,
    dir,
    output: () => out,
    async cleanup() {
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc!.once('exit', r));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc!.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    const port = await freePort();
    const configPath = join(dir, 'config.yml');
    writeFileSync(configPath, config(port, opts.dataDir ?? join(dir, 'data'), opts));
    const [cmd, args] =
      kind === 'wharf'
        ? [process.execPath, [...WHARF_NODE_FLAGS, ...(opts.nodeArgs ?? []), WHARF_MAIN, 'serve', configPath]]
        : [DOCKER_REGISTRY, ['serve', configPath]];
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
    proc = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (out = (out + d).slice(-20_000)));
    proc.stderr!.on('data', (d) => (out = (out + d).slice(-20_000)));
    server.pid = proc.pid!;
    server.url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    const deadline = Date.now() + 15_000;
    const probe = keepAliveAgent(1, opts.tls?.ca);
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`${kind} exited with ${proc.exitCode}:\n${out}`);
      try {
        // 200, or 401 when auth is configured: either way the server answers.
        const r = await send(probe, 'GET', `${server.url}/v2/`, {}, undefined, 2000);
        if (r.status === 200 || r.status === 401) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`${kind} did not become ready in 15 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    probe.destroy();
    return server;
  } catch (err) {
    await server.cleanup();
    throw err;
  }
}

/** Resets the peak RSS (VmHWM) of a process; false when the kernel refuses. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Peak resident set size of a process in bytes (VmHWM), null when unreadable. */
export function peakRss(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
