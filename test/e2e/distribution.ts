/**
 * Starts CNCF Distribution (`docker-registry serve`, Debian's 2.8 build, or whatever `DOCKER_REGISTRY` names) as a
 * real process on a free port with filesystem storage under a given root directory, so that tests can check
 * that wharf and Distribution read each other's data directories. `DOCKER_REGISTRY_BIN` is null when missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './harness.js';
import { onPath } from './skopeo.js';

export const DOCKER_REGISTRY_BIN = process.env.DOCKER_REGISTRY || onPath('docker-registry');
export const DOCKER_REGISTRY_MISSING =
  'docker-registry (CNCF Distribution) is not on PATH (apt-get install docker-registry, or set DOCKER_REGISTRY)';

export interface Distribution {
  url: string;
  /** `127.0.0.1:<port>`, for `docker://` references. */
  host: string;
  port: number;
  rootdirectory: string;
  proc: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Stops the process (SIGTERM by default) and removes its config directory; the root directory stays. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** The same http.secret as the harness's default wharf config: upload sessions can move between the two servers. */
export const DISTRIBUTION_SECRET = 'e2e-test-secret';

export function distributionConfig(rootdirectory: string, port: number, extra = ''): string {
  return `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${rootdirectory}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${port}
  secret: ${DISTRIBUTION_SECRET}
${extra}`;
}

/**
 * Starts Distribution on `rootdirectory` and waits until `GET /v2/` answers (200, or 401 when `extra` holds an
 * `auth:` section). `extra` is top-level YAML appended to the config.
 */
export async function startDistribution(rootdirectory: string, extra = ''): Promise<Distribution> {
  if (!DOCKER_REGISTRY_BIN) throw new Error(DOCKER_REGISTRY_MISSING);
  const confDir = mkdtempSync(join(tmpdir(), 'wharf-e2e-distribution-'));
  const port = await freePort();
  const configPath = join(confDir, 'config.yml');
  writeFileSync(configPath, distributionConfig(rootdirectory, port, extra));
  // Distribution reads REGISTRY_* overrides too: never let the caller's leak in.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  const proc = spawn(DOCKER_REGISTRY_BIN, ['serve', configPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const d: Distribution = {
    url,
    host: `127.0.0.1:${port}`,
    port,
    rootdirectory,
    proc,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(confDir, { recursive: true, force: true });
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
      if (r.status === 200 || r.status === 401) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await d.stop('SIGKILL');
      throw new Error(`docker-registry did not become ready:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return d;
}
