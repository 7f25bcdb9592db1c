/**
 * A real S3 server for tests: Ceph RADOS Gateway started by ../shared/s3/start-s3.sh (Debian packages
 * ceph-mon ceph-osd radosgw ceph-common, installed by .ci/run) on free ports in a temporary directory.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { freePort } from './harness.js';

const run = promisify(execFile);

/** dist/test/e2e -> project root -> ../shared/s3 */
const SHARED_S3 = fileURLToPath(new URL('../../../../shared/s3/', import.meta.url));

export interface S3Server {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  dir: string;
  /** Kills the daemons (for outage tests); `stop()` still cleans up. */
  kill(): void;
  stop(): Promise<void>;
}

/** Why a real S3 server cannot be started here, or null when it can. */
export function s3Unavailable(): string | null {
  if (!existsSync(join(SHARED_S3, 'start-s3.sh'))) return `../shared/s3/start-s3.sh not found (looked in ${SHARED_S3})`;
  try {
    execFileSync('sh', ['-c', 'command -v radosgw && command -v ceph-mon && command -v ceph-osd'], { stdio: 'ignore' });
  } catch {
    return 'Ceph RADOS Gateway is not installed (apt-get install ceph-mon ceph-osd radosgw ceph-common uuid-runtime)';
  }
  return null;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Three consecutive free ports starting at a free one (monitor msgr2 and msgr1 need two in a row). */
async function freeRun(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p + 2 < 65535 && (await canBind(p + 1)) && (await canBind(p + 2))) return p;
  }
  throw new Error('no free ports');
}

/**
 * Starts RGW on free ports. Ports are chosen free but bound later by the daemons, so a test running in parallel
 * may take one in between: a start that fails is retried once on other ports.
 */
export async function startS3(): Promise<S3Server> {
  try {
    return await startS3Once();
  } catch {
    return startS3Once();
  }
}

async function startS3Once(): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-s3-'));
  rmSync(dir, { recursive: true });
  const s3Port = await freePort();
  const mon = await freeRun();
  const osdMin = await freePort();
  const env = {
    ...process.env,
    S3_PORT: String(s3Port),
    CEPH_MON_PORT: String(mon),
    CEPH_PORT_MIN: String(osdMin),
    CEPH_PORT_MAX: String(osdMin + 40),
  };
  let stdout: string;
  try {
    ({ stdout } = await run('bash', [join(SHARED_S3, 'start-s3.sh'), dir], { env, timeout: 180_000 }));
  } catch (err) {
    // start-s3.sh stops what it started when it fails; its directory is ours to remove.
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const vars = Object.fromEntries(
    stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await run('bash', [join(SHARED_S3, 'stop-s3.sh'), dir, '--purge'], { timeout: 60_000 }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    endpoint: vars.S3_ENDPOINT,
    accessKey: vars.S3_ACCESS_KEY,
    secretKey: vars.S3_SECRET_KEY,
    region: vars.S3_REGION ?? 'us-east-1',
    dir,
    kill() {
      try {
        execFileSync('bash', [join(SHARED_S3, 'stop-s3.sh'), dir], { timeout: 60_000, stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    },
    stop,
  };
}
