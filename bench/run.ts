/**
 * `npm run bench`: wharf side by side with Debian's docker-registry (CNCF Distribution 2.8). Both run at once;
 * each core phase measures one, then the other, a few rounds, and reports medians.
 *
 *   BENCH_QUICK=1       64 MiB blobs, 2 s load, 50 images: a smoke run
 *   BENCH_ONLY=wharf    skip docker-registry (ratios are then empty)
 *   BENCH_LOADGEN=node  node:http keep-alive load in a worker thread instead of Debian's wrk (installed when missing)
 *   BENCH_NO_EXTRA=1    skip the authentication (htpasswd, bcrypt cost 5 and 10) and HTTPS phases
 *   BENCH_REPEATS=N     rounds of each core phase per server (default 3, QUICK 1); the table shows medians
 *
 * Needs curl and skopeo (Debian packages, installed when missing, as docker-registry and wrk are).
 * Prints one table and writes it as JSON to bench/results/latest.json. Everything talks to 127.0.0.1 only;
 * servers and their temp dirs are removed at the end, also on failure or Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { makeBlob, type BlobSource } from './blobs.js';
import { measureCore } from './core.js';
import { measureExtra } from './extra.js';
import { runNodeLoad, runWrkLoad, WRK, type LoadResult, type LoadSpec } from './loadgen.js';
import { DOCKER_REGISTRY, ensureDebianPackage, WHARF_MAIN, type RunningServer, type ServerKind } from './servers.js';
import { SKOPEO } from './skopeo.js';
import { lines, markdown, table, type Measured, type Metric, type Row } from './table.js';

const MiB = 1024 * 1024;
const QUICK = process.env.BENCH_QUICK === '1';
const ONLY = process.env.BENCH_ONLY;
/** BENCH_NO_EXTRA=1 skips the authentication and HTTPS phases. */
const NO_EXTRA = process.env.BENCH_NO_EXTRA === '1';
let loadgen: 'wrk' | 'node' = process.env.BENCH_LOADGEN === 'node' ? 'node' : 'wrk';
// wrk 4.1 waits for a body after a HEAD response with Content-Length and counts 0 requests: HEAD is always node's.
const runLoad = (spec: LoadSpec): Promise<LoadResult> =>
  loadgen === 'wrk' && spec.method !== 'HEAD' ? runWrkLoad(spec) : runNodeLoad(spec);
const clientOf = (method: string) => (loadgen === 'wrk' && method !== 'HEAD' ? 'wrk' : 'node:http');

const P = {
  blobBytes: QUICK ? 64 * MiB : 1024 * MiB,
  chunkBytes: 16 * MiB,
  warmupMs: QUICK ? 500 : 1000,
  durationMs: QUICK ? 2000 : 5000,
  connections: 32,
  images: QUICK ? 50 : 200,
  imageConcurrency: 16,
  /** Rounds of each core phase per server; the table shows the median. */
  rounds: Number(process.env.BENCH_REPEATS ?? (QUICK ? 1 : 3)),
  repositories: 2000,
  skopeoLayers: 8,
  skopeoLayerBytes: QUICK ? 8 * MiB : 64 * MiB,
};

/** Built when printing, once the load generator is known. */
const rowSpecs = (): Row[] => {
  const size = fmtSize(P.blobBytes);
  return [
    { metric: 'idleRss', label: 'server RSS a second after start, idle', unit: 'MiB', target: { wharfAtMost: 70 } },
    { metric: 'push', label: `monolithic push ${size}`, unit: 'MB/s', target: { ratioAtLeast: 2 } },
    {
      metric: 'chunkedPush',
      label: `chunked push ${size} (16 MiB PATCHes)`,
      unit: 'MB/s',
      target: { ratioAtLeast: 2 },
    },
    { metric: 'pullCurl', label: `blob GET ${size}, curl -o /dev/null`, unit: 'MB/s', target: { ratioAtLeast: 1 } },
    {
      metric: 'pullCurlRange',
      label: `blob GET, Range of ${fmtSize(P.blobBytes / 2)}, curl`,
      unit: 'MB/s',
      target: { ratioAtLeast: 1 },
    },
    {
      metric: 'pullRaw',
      label: `blob GET ${size}, bench client counting bytes`,
      unit: 'MB/s',
      target: { ratioAtLeast: 1 },
    },
    {
      metric: 'pullRawRange',
      label: `blob GET, Range of ${fmtSize(P.blobBytes / 2)}, bench client`,
      unit: 'MB/s',
      target: { ratioAtLeast: 1 },
    },
    {
      metric: 'pull',
      label: `blob GET ${size}, bench client hashing sha256`,
      unit: 'MB/s',
      target: { ratioAtLeast: 1 },
    },
    { metric: 'cpuPerGiB', label: 'server CPU per GiB served (curl GETs)', unit: 's', target: { ratioAtMost: 1.5 } },
    {
      metric: 'skopeoCopy',
      label: `skopeo copy ${P.skopeoLayers} x ${fmtSize(P.skopeoLayerBytes)} layers in and out`,
      unit: 's',
      target: { ratioAtMost: 1 },
    },
    {
      metric: 'peakRss',
      label: 'server peak RSS (pushes, GETs, skopeo copy)',
      unit: 'MiB',
      target: { wharfAtMost: 150 },
    },
    {
      metric: 'manifestGet',
      label: `manifest GET by tag (${P.connections} conns, ${clientOf('GET')})`,
      unit: 'req/s',
      target: { ratioAtLeast: 10 },
    },
    { metric: 'manifestCpu', label: 'server CPU per manifest GET', unit: 'us', target: { wharfAtMost: 44 } },
    {
      metric: 'blobHead',
      label: `blob HEAD (${P.connections} conns, ${clientOf('HEAD')})`,
      unit: 'req/s',
      target: { ratioAtLeast: 10 },
    },
    {
      metric: 'tagsList',
      label: `tags list (${P.connections} conns, ${clientOf('GET')})`,
      unit: 'req/s',
      target: { ratioAtLeast: 5 },
    },
    {
      metric: 'smallPushes',
      label: `small image pushes (${P.images}, ${P.imageConcurrency} at a time)`,
      unit: 'images/s',
      target: { ratioAtLeast: 2 },
    },
    {
      metric: 'catalogWalk',
      label: `catalog full walk, ${P.repositories}+ repositories, n=1000`,
      unit: 'ms',
      target: { wharfAtMost: 20 },
    },
    {
      metric: 'catalogPage',
      label: 'catalog page of 100 at 40 positions, p50',
      unit: 'ms',
      target: { wharfAtMost: 20 },
    },
    {
      metric: 'basic5',
      label: `manifest GET, htpasswd Basic, bcrypt cost 5 (${clientOf('GET')})`,
      unit: 'req/s',
      target: { ratioAtLeast: 10 },
    },
    {
      metric: 'basic10',
      label: `manifest GET, htpasswd Basic, bcrypt cost 10 (${clientOf('GET')})`,
      unit: 'req/s',
      target: { ratioAtLeast: 10 },
    },
    {
      metric: 'basic10VsPlain',
      label: 'cost-10 Basic GET / same server without auth',
      unit: 'x',
      target: { wharfAtLeast: 0.8 },
    },
    { metric: 'tlsPush', label: `HTTPS monolithic push ${size}`, unit: 'MB/s', target: { ratioAtLeast: 1 } },
    {
      metric: 'tlsPullCurl',
      label: `HTTPS blob GET ${size}, curl (HTTP/1.1)`,
      unit: 'MB/s',
      target: { ratioAtLeast: 0.9 },
    },
    {
      metric: 'tlsPullRaw',
      label: `HTTPS blob GET ${size}, bench client counting bytes`,
      unit: 'MB/s',
      target: { ratioAtLeast: 0.9 },
    },
    {
      metric: 'tlsPull',
      label: `HTTPS blob GET ${size}, bench client hashing sha256`,
      unit: 'MB/s',
      target: { ratioAtLeast: 0.9 },
    },
    {
      metric: 'tlsManifestGet',
      label: `HTTPS manifest GET (${P.connections} conns, ${clientOf('GET')})`,
      unit: 'req/s',
      target: { ratioAtLeast: 5 },
    },
    {
      metric: 'h2PullCurl',
      label: `HTTP/2 blob GET ${size}, curl --http2`,
      unit: 'MB/s',
      target: { ratioAtLeast: 0.9 },
    },
    {
      metric: 'h2ManifestGet',
      label: `HTTP/2 manifest GET (${P.connections} streams, node:http2)`,
      unit: 'req/s',
      target: { ratioAtLeast: 5 },
    },
  ];
};

function fmtSize(n: number): string {
  return n >= 1024 * MiB ? `${n / (1024 * MiB)} GiB` : `${n / MiB} MiB`;
}

const live = new Set<RunningServer>();

/** Every sample of the last core run, for the JSON file. */
let lastSamples: Record<string, Partial<Record<Metric, number[]>>> = {};

async function measureExtraAll(
  kinds: ServerKind[],
  blobs: { mono: BlobSource },
): Promise<Partial<Record<ServerKind, Measured>>> {
  const log = (kind: ServerKind, s: string) => process.stdout.write(`  [${kind}] ${s}\n`);
  const common = { rounds: P.rounds, connections: P.connections, warmupMs: P.warmupMs, durationMs: P.durationMs };
  const all = await measureExtra(kinds, { ...common, tlsBlob: blobs.mono }, runLoad, live, log);
  const out: Partial<Record<ServerKind, Measured>> = {};
  for (const kind of kinds) {
    const x = all[kind] ?? {};
    out[kind] = {
      basic5: x.basic5,
      basic10: x.basic10,
      tlsPush: x.tlsPush,
      tlsPullCurl: x.tlsPullCurl,
      tlsPullRaw: x.tlsPullRaw,
      tlsPull: x.tlsPull,
      tlsManifestGet: x.tlsManifestGet,
      h2PullCurl: x.h2PullCurl,
      h2ManifestGet: x.h2ManifestGet,
    };
    if (x.basic10 !== undefined && x.plainManifestGet) out[kind]!.basic10VsPlain = x.basic10 / x.plainManifestGet;
  }
  return out;
}

function dockerRegistryVersion(): string {
  try {
    return execFileSync(DOCKER_REGISTRY, ['--version'], { encoding: 'utf8', timeout: 5000 }).trim();
  } catch {
    return 'unknown';
  }
}

async function cleanupAll(): Promise<void> {
  await Promise.all([...live].map((s) => s.cleanup()));
  live.clear();
}

async function main(): Promise<void> {
  if (!existsSync(WHARF_MAIN)) throw new Error(`${WHARF_MAIN} is missing: run npx tsc -p . first`);
  const kinds: ServerKind[] = ONLY === 'wharf' ? ['wharf'] : ['wharf', 'docker-registry'];
  if (kinds.includes('docker-registry')) ensureDebianPackage('docker-registry', DOCKER_REGISTRY);
  ensureDebianPackage('curl', '/usr/bin/curl');
  ensureDebianPackage('skopeo', SKOPEO);
  if (loadgen === 'wrk') {
    try {
      ensureDebianPackage('wrk', WRK);
    } catch (err) {
      process.stdout.write(`${(err as Error).message}: falling back to the node:http load generator\n`);
      loadgen = 'node';
    }
  }

  const load0 = loadavg();
  process.stdout.write(
    `bench: ${QUICK ? 'QUICK ' : ''}${cpus().length} CPUs, load average ${load0.map((x) => x.toFixed(2)).join(' ')}, node ${process.version}, load by ${loadgen}\n`,
  );
  process.stdout.write(`generating two ${fmtSize(P.blobBytes)} blobs (digest streamed, never held whole)...\n`);
  const blobs = { mono: makeBlob(P.blobBytes), chunked: makeBlob(P.blobBytes) };

  process.stdout.write(`core phases, ${P.rounds} round(s) each, servers side by side:\n`);
  const core = await measureCore(kinds, blobs, P, runLoad, live);
  const results: Partial<Record<ServerKind, Measured>> = core.medians;
  lastSamples = core.samples;
  if (!NO_EXTRA) {
    process.stdout.write(`authentication and HTTPS, ${P.rounds} round(s) each, servers side by side:\n`);
    const extra = await measureExtraAll(kinds, blobs);
    for (const kind of kinds) Object.assign(results[kind]!, extra[kind]);
  }

  const rows = lines(rowSpecs(), results.wharf ?? {}, results['docker-registry'] ?? {});
  process.stdout.write(`\n${table(rows)}\n\n`);
  const load1 = loadavg();
  process.stdout.write(
    `load average at the end ${load1.map((x) => x.toFixed(2)).join(' ')} (other work on the machine makes numbers noisy)\n`,
  );

  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const json = {
    date: new Date().toISOString(),
    quick: QUICK,
    only: ONLY ?? null,
    params: P,
    loadgen,
    machine: { cpus: cpus().length, node: process.version, loadAverageBefore: load0, loadAverageAfter: load1 },
    dockerRegistry: kinds.includes('docker-registry') ? dockerRegistryVersion() : null,
    rows,
    samples: lastSamples,
  };
  writeFileSync(`${dir}latest.json`, JSON.stringify(json, null, 2) + '\n');
  writeFileSync(`${dir}latest.md`, markdown(rows) + '\n');
  process.stdout.write(`written to bench/results/latest.json and latest.md\n`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stdout.write(`\n${signal}: stopping servers and removing temp dirs\n`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

main()
  .catch(async (err: Error) => {
    process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  })
  .finally(cleanupAll);
