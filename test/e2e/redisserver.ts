/**
 * A real redis-server for tests, on a free port with persistence off, in a temporary directory. `kill()` and
 * `restart()` (same port) simulate an outage and its end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './harness.js';
import { onPath } from './skopeo.js';

export const REDIS_SERVER = onPath('redis-server');
export const REDIS_MISSING = 'redis-server is not installed (CI installs it; apt-get install redis-server)';

export interface RedisServer {
  port: number;
  /** host:port */
  addr: string;
  /** SIGKILL: an outage without a goodbye. */
  kill(): Promise<void>;
  /** Starts again on the same port (empty: no persistence). */
  restart(): Promise<void>;
  /** Sends one command (inline protocol) and returns the raw reply. */
  command(line: string): Promise<string>;
  stop(): Promise<void>;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.setTimeout(500, () => s.destroy());
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => resolve(false));
    s.once('close', () => resolve(false));
  });
}

export async function startRedis(): Promise<RedisServer> {
  if (!REDIS_SERVER) throw new Error(REDIS_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'wharf-redis-'));
  const port = await freePort();
  let proc: ChildProcess | null = null;
  const launch = async () => {
    proc = spawn(
      REDIS_SERVER!,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    while (!(await ping(port))) {
      if (Date.now() > deadline) throw new Error('redis-server did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async () => {
    const p = proc as ChildProcess | null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  };
  await launch();
  return {
    port,
    addr: `127.0.0.1:${port}`,
    kill,
    restart: launch,
    command: (line) =>
      new Promise((resolve, reject) => {
        const s = connect(port, '127.0.0.1');
        let out = '';
        s.once('connect', () => s.write(`${line}\r\n`));
        s.on('data', (d) => {
          out += d;
          s.end();
        });
        s.once('close', () => resolve(out));
        s.once('error', reject);
      }),
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
