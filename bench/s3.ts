/**
 * `npm run bench:s3`: registries on S3 storage (a real Ceph RGW started here, memstore), side by side:
 *   wharf x1        one replica (Redis blob descriptor cache)
 *   wharf x2        two replicas on the same bucket and Redis, the load split between them
 *   docker-registry CNCF Distribution 2.8 on the same RGW (its own root directory in the bucket)
 * Push and pull MB/s (two concurrent 1-blob streams, redirects disabled so bytes pass through the registry) and
 * manifest GET by tag req/s (keep-alive load); then, for wharf x1 and docker-registry, the catalog over 2,000
 * repositories laid out in the bucket: the first walk at n=1000, the median of later walks, and the p50 of single
 * pages (wharf keeps the list after the first walk and revalidates it in the background; Distribution lists the
 * bucket on every request). Writes bench/results/s3.json.
 *
 *   BENCH_QUICK=1  64 MiB blobs, 2 s load
 *
 * Needs Ceph (ceph-mon ceph-osd radosgw) and redis-server; docker-registry is skipped when missing. Everything is
 * on one machine, so the numbers compare the registries' own overhead on a shared CPU, not S3 at scale.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { fetchVerified, makeBlob, pull, pushMonolithic, redirectLocation, type BlobSource } from './blobs.js';
import { catalogFigures, seedS3Repositories } from './catalog.js';
import { keepAliveAgent } from './http.js';
import { OCI_MANIFEST, pushImage } from './images.js';
import { runNodeLoad, runWrkLoad, WRK, type LoadResult, type LoadSpec } from './loadgen.js';
import { DOCKER_REGISTRY, freePort, WHARF_MAIN } from './servers.js';
import { startRedis, type RedisServer } from '../test/e2e/redisserver.js';
import { s3Unavailable, startS3, type S3Server } from '../test/e2e/s3server.js';
import { createBucket, distributionEnv, s3Client, s3Storage } from '../test/e2e/s3wharf.js';

const MiB = 1024 * 1024;
const QUICK = process.env.BENCH_QUICK === '1';
const P = {
  blobBytes: QUICK ? 64 * MiB : 256 * MiB,
  streams: 2,
  warmupMs: QUICK ? 500 : 1000,
  durationMs: QUICK ? 2000 : 5000,
  connections: 32,
  repositories: QUICK ? 200 : 2000,
};
const say = (s: string) => process.stdout.write(`${s}\n`);

interface Proc {
  url: string;
  proc: ChildProcess;
  output(): string;
}

async function launch(cmd: string, args: string[], env: NodeJS.ProcessEnv, port: number): Promise<Proc> {
  const proc = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${cmd} exited:\n${out}`);
    try {
      const r = await fetch(`${url}/v2/`);
      await r.arrayBuffer();
      if (r.status === 200) return { url, proc, output: () => out };
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${cmd} did not become ready:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function config(s3: S3Server, bucket: string, root: string, port: number, redis?: string, redirect = false): string {
  return `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
${s3Storage(s3, bucket)}    rootdirectory: /${root}
  delete:
    enabled: true
  redirect:
    disable: ${!redirect}
  maintenance:
    uploadpurging:
      enabled: false
${redis ? '  cache:\n    blobdescriptor: redis\n' : ''}http:
  addr: 127.0.0.1:${port}
  secret: wharf-bench-s3
${redis ? `redis:\n  addrs: [${redis}]\n` : ''}`;
}

const runLoad = (spec: LoadSpec): Promise<LoadResult> => (existsSync(WRK) ? runWrkLoad(spec) : runNodeLoad(spec));

/** Runs `n` streams at once, stream i against urls[i % urls.length]; returns aggregate MB/s. */
async function streams(urls: string[], n: number, fn: (url: string, i: number) => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, (_, i) => fn(urls[i % urls.length], i)));
  return (n * P.blobBytes) / MiB / ((performance.now() - t0) / 1000);
}

async function measure(name: string, urls: string[]): Promise<Record<string, number | string>> {
  const agent = keepAliveAgent(64);
  const repo = `bench/${name.replace(/[^a-z0-9]/g, '')}`;
  const blobs: BlobSource[] = Array.from({ length: P.streams }, () => makeBlob(P.blobBytes));
  const push = await streams(urls, P.streams, (url, i) => pushMonolithic(agent, url, repo, blobs[i]));
  // Each stream pulls a blob through a replica other than the one it pushed to, when there are two.
  const pullMBs = await streams(urls, P.streams, (_url, i) => pull(agent, urls[(i + 1) % urls.length], repo, blobs[i]));
  await pushImage(agent, urls[0], repo, 'latest');
  const per = Math.ceil(P.connections / urls.length);
  const loads = await Promise.all(
    urls.map((url) =>
      runLoad({
        url: `${url}/v2/${repo}/manifests/latest`,
        method: 'GET',
        headers: { Accept: OCI_MANIFEST },
        connections: per,
        warmupMs: P.warmupMs,
        durationMs: P.durationMs,
      }),
    ),
  );
  agent.destroy();
  const errors = loads.reduce((a, l) => a + l.errors, 0);
  return {
    target: name,
    pushMBs: Math.round(push),
    pullMBs: Math.round(pullMBs),
    manifestGetRps: Math.round(loads.reduce((a, l) => a + l.rps, 0)),
    ...(errors > 0 ? { errors, firstError: loads.find((l) => l.firstError)?.firstError ?? '' } : {}),
  };
}

/**
 * Pull with redirects on (the default): each stream GETs the blob from wharf, follows the 307 to the presigned
 * URL and reads it from RGW; then the same presigned URLs are read again directly, as RGW's own GET rate.
 */
async function measureRedirect(url: string): Promise<Array<Record<string, number | string>>> {
  const agent = keepAliveAgent(64);
  const repo = 'bench/redirect';
  const blobs: BlobSource[] = Array.from({ length: P.streams }, () => makeBlob(P.blobBytes));
  await streams([url], P.streams, (u, i) => pushMonolithic(agent, u, repo, blobs[i]));
  const locations: string[] = [];
  const viaWharf = await streams([url], P.streams, async (u, i) => {
    locations[i] = await redirectLocation(agent, u, repo, blobs[i]);
    await fetchVerified(agent, locations[i], blobs[i]);
  });
  const direct = await streams([url], P.streams, (_u, i) => fetchVerified(agent, locations[i], blobs[i]));
  agent.destroy();
  return [
    { target: 'wharf x1, pull by 307 redirect', pushMBs: '-', pullMBs: Math.round(viaWharf), manifestGetRps: '-' },
    { target: 'RGW direct GET (same URLs)', pushMBs: '-', pullMBs: Math.round(direct), manifestGetRps: '-' },
  ];
}

async function main(): Promise<void> {
  const why = s3Unavailable();
  if (why) throw new Error(why);
  const cleanups: Array<() => Promise<void> | void> = [];
  const work = mkdtempSync(join(tmpdir(), 'bench-s3-'));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  const results: Array<Record<string, number | string>> = [];
  try {
    const s3 = await startS3();
    cleanups.push(() => s3.stop());
    const redis: RedisServer = await startRedis();
    cleanups.push(() => redis.stop());
    await createBucket(s3, 'bench');
    const start = async (
      kind: 'wharf' | 'docker-registry',
      root: string,
      withRedis: boolean,
      redirect = false,
    ): Promise<Proc> => {
      const port = await freePort();
      const path = join(work, `${kind}-${port}.yml`);
      writeFileSync(path, config(s3, 'bench', root, port, withRedis ? redis.addr : undefined, redirect));
      const p =
        kind === 'wharf'
          ? await launch(process.execPath, [WHARF_MAIN, 'serve', path], { ...process.env }, port)
          : await launch(DOCKER_REGISTRY, ['serve', path], distributionEnv(), port);
      cleanups.push(() => void p.proc.kill('SIGKILL'));
      return p;
    };
    const client = s3Client(s3);
    cleanups.push(() => client.destroy());
    const put = async (key: string, body: string) =>
      void (await client.send(new PutObjectCommand({ Bucket: 'bench', Key: key, Body: body })));
    const catalogOf = async (url: string, root: string) => {
      say(`  seeding ${P.repositories} repositories under /${root}`);
      await seedS3Repositories(put, root, P.repositories);
      say('  catalog walks and pages');
      const agent = keepAliveAgent(4);
      try {
        // Few walks and pages: each of docker-registry's lists the whole bucket.
        const c = await catalogFigures(agent, url, P.repositories, 2, 10);
        return {
          catalogFirstWalkMs: Math.round(c.firstWalkMs),
          catalogWalkMs: Math.round(c.walkMs * 10) / 10,
          catalogPageMs: Math.round(c.pageMs * 10) / 10,
        };
      } finally {
        agent.destroy();
      }
    };
    say('wharf x1: push, pull, manifest GET');
    const w1 = await start('wharf', 'wharf1', true);
    results.push({ ...(await measure('wharf x1', [w1.url])), ...(await catalogOf(w1.url, 'wharf1')) });
    w1.proc.kill('SIGKILL');
    say('wharf x2: push, pull, manifest GET');
    const [a, b] = await Promise.all([start('wharf', 'wharf2', true), start('wharf', 'wharf2', true)]);
    results.push(await measure('wharf x2', [a.url, b.url]));
    a.proc.kill('SIGKILL');
    b.proc.kill('SIGKILL');
    const r = await start('wharf', 'wharfredirect', true, true);
    results.push(...(await measureRedirect(r.url)));
    r.proc.kill('SIGKILL');
    if (existsSync(DOCKER_REGISTRY)) {
      say('docker-registry: push, pull, manifest GET');
      const d = await start('docker-registry', 'distribution', false);
      results.push({ ...(await measure('docker-registry', [d.url])), ...(await catalogOf(d.url, 'distribution')) });
    } else {
      process.stdout.write(`${DOCKER_REGISTRY} missing: docker-registry skipped\n`);
    }
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
  console.table(results);
  const out = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 's3.json'),
    JSON.stringify({ date: new Date().toISOString(), cpus: cpus().length, params: P, results }, null, 2) + '\n',
  );
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
