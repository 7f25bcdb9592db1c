/**
 * wharf (and CNCF Distribution) on a real S3 server: config text for `storage.s3`, bucket creation and listing
 * with the AWS SDK directly (never through src/), and the process's peak memory.
 */
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './harness.js';
import type { S3Server } from './s3server.js';

export function s3Client(s3: S3Server): S3Client {
  return new S3Client({
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function createBucket(s3: S3Server, bucket: string): Promise<void> {
  const c = s3Client(s3);
  try {
    await c.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    c.destroy();
  }
}

export async function listKeys(s3: S3Server, bucket: string, prefix = ''): Promise<string[]> {
  const c = s3Client(s3);
  const keys: string[] = [];
  try {
    let token: string | undefined;
    do {
      const r = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of r.Contents ?? []) keys.push(o.Key!);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  } finally {
    c.destroy();
  }
  return keys;
}

/** The `storage.s3` block (indented for `storage:`), with the keys both wharf and Distribution 2.8 read. */
export function s3Storage(s3: S3Server, bucket: string): string {
  return `  s3:
    accesskey: ${s3.accessKey}
    secretkey: ${s3.secretKey}
    region: ${s3.region}
    regionendpoint: ${s3.endpoint}
    forcepathstyle: true
    bucket: ${bucket}
    secure: false
    v4auth: true
`;
}

export interface WharfS3Options {
  redis?: string;
  redirect?: boolean;
  extra?: string;
}

/** A complete wharf config on S3 (`{{port}}` filled in by the harness). */
export function wharfS3Config(s3: S3Server, bucket: string, o: WharfS3Options = {}): string {
  return `version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
${s3Storage(s3, bucket)}  delete:
    enabled: true
  redirect:
    disable: ${o.redirect === false}
  maintenance:
    uploadpurging:
      enabled: false
${o.redis ? '  cache:\n    blobdescriptor: redis\n' : ''}http:
  addr: 127.0.0.1:{{port}}
  secret: e2e-replicas-secret
${o.redis ? `redis:\n  addrs: [${o.redis}]\n  dialtimeout: 500ms\n  readtimeout: 500ms\n  writetimeout: 500ms\n` : ''}${o.extra ?? ''}`;
}

/** Peak resident set size (VmHWM) of a process, bytes. */
export function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** The environment for docker-registry: without AWS_CA_BUNDLE (Distribution 2.8 panics when it names a bundle). */
export function distributionEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_') && k !== 'AWS_CA_BUNDLE') env[k] = v;
  return env;
}

export interface DistributionS3 {
  url: string;
  host: string;
  output(): string;
  stop(): Promise<void>;
}

/** CNCF Distribution (`docker-registry serve`) with the given config text (`{{port}}` filled in). */
export async function startDistributionS3(bin: string, configText: string, dir: string): Promise<DistributionS3> {
  const port = await freePort();
  const path = join(dir, `distribution-${port}.yml`);
  writeFileSync(path, configText.replaceAll('{{port}}', String(port)));
  const proc = spawn(bin, ['serve', path], { env: distributionEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited with ${proc.exitCode}:\n${out}`);
    try {
      const r = await fetch(`${url}/v2/`);
      await r.arrayBuffer();
      if (r.status === 200) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not become ready:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, host: `127.0.0.1:${port}`, output: () => out, stop };
}
