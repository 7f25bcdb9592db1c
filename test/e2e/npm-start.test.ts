/**
 * `npm start` under a service manager: SIGTERM sent to the npm process stops the registry. npm runs the script
 * with `sh -c`; without `exec` in the script the shell stays between npm and node, dies of the signal npm
 * forwards, and leaves node running with the port open. The test starts `npm start` from the repository root
 * with a temporary config (REGISTRY_CONFIGURATION_PATH), signals npm only, and checks that every process under
 * it is gone and the port refuses connections.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, testConfig } from './harness.js';
import { onPath } from './skopeo.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NPM = onPath('npm');

/** Every process below `pid` (Linux /proc). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

/** Whether `pid` still runs (a zombie waiting for its reaper counts as gone). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const missing = !NPM
  ? 'npm is not on PATH'
  : !existsSync('/proc/self/task')
    ? 'needs Linux /proc to find the server process'
    : false;

test('SIGTERM to `npm start` stops the server it started', { skip: missing }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-npmstart-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    testConfig({ logLevel: 'info' }).replaceAll('{{port}}', String(port)).replaceAll('{{data}}', join(dir, 'data')),
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_') && !k.startsWith('npm_')) env[k] = v;
  env.REGISTRY_CONFIGURATION_PATH = config;
  const npm = spawn(NPM!, ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  npm.stdout!.on('data', (d) => (out += d));
  npm.stderr!.on('data', (d) => (out += d));
  let below: number[] = [];
  try {
    await until(`the registry on :${port}\n${out}`, async () => {
      if (npm.exitCode !== null) assert.fail(`npm start exited with ${npm.exitCode}:\n${out}`);
      try {
        return (await fetch(`http://127.0.0.1:${port}/v2/`)).status === 200;
      } catch {
        return false;
      }
    });
    below = descendants(npm.pid!);
    assert.ok(below.length > 0, 'npm start runs the server as its child');
    const exited = once(npm, 'exit');
    npm.kill('SIGTERM');
    await exited;
    await until('every process under npm start to stop', () => below.every((p) => !running(p)));
    assert.equal(await portOpen(port), false, 'the port is closed');
    assert.match(out, /SIGTERM received/, 'the server itself got the SIGTERM and drained');
  } finally {
    for (const p of below) if (running(p)) process.kill(p, 'SIGKILL');
    if (npm.exitCode === null) npm.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
