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
 * Prints one table and writes it as JSON to bench/results/latest.json. Everything talks to 127.0.0.1 only;
 * servers and their temp dirs are removed at the end, also on failure or Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { makeBlob, pull, pushChunked, pushMonolithic, type BlobSource } from './blobs.js';
import type { Agent } from 'node:http';
import { keepAliveAgent } from './http.js';
import { OCI_MANIFEST, pushImage, pushMany } from './images.js';
import { measureExtra } from './extra.js';
import { runNodeLoad, runWrkLoad, WRK, type LoadResult, type LoadSpec } from './loadgen.js';
import { inTurns, median } from './stats.js';
import { DOCKER_REGISTRY, ensureDebianPackage, peakRss, resetPeakRss, startServer, WHARF_MAIN, type RunningServer, type ServerKind } from './servers.js';

const MiB = 1024 * 1024;
const QUICK = process.env.BENCH_QUICK === '1';
const ONLY = process.env.BENCH_ONLY;
/** BENCH_NO_EXTRA=1 skips the authentication and HTTPS phases. */
const NO_EXTRA = process.env.BENCH_NO_EXTRA === '1';
let loadgen: 'wrk' | 'node' = process.env.BENCH_LOADGEN === 'node' ? 'node' : 'wrk';
// wrk 4.1 waits for a body after a HEAD response with Content-Length and counts 0 requests: HEAD is always node's.
const runLoad = (spec: LoadSpec): Promise<LoadResult> => (loadgen === 'wrk' && spec.method !== 'HEAD' ? runWrkLoad(spec) : runNodeLoad(spec));
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
  repeats: Number(process.env.BENCH_REPEATS ?? (QUICK ? 1 : 3)),
};

type Metric =
  | 'push'
  | 'chunkedPush'
  | 'pull'
  | 'manifestGet'
  | 'blobHead'
  | 'smallPushes'
  | 'peakRss'
  | 'basic5'
  | 'basic10'
  | 'basic10VsPlain'
  | 'tlsPush'
  | 'tlsPull'
  | 'tlsManifestGet';
type Measured = Partial<Record<Metric, number>>;

interface Row {
  metric: Metric;
  label: string;
  unit: string;
  /** Higher is better and the target is a minimum wharf/docker-registry ratio; or an absolute maximum for wharf. */
  target: { ratioAtLeast: number } | { wharfBelow: number } | { wharfAtLeast: number };
}

/** Built when printing, once the load generator is known. */
const rowSpecs = (): Row[] => [
  { metric: 'push', label: `monolithic push ${fmtSize(P.blobBytes)}`, unit: 'MB/s', target: { ratioAtLeast: 2 } },
  { metric: 'chunkedPush', label: `chunked push ${fmtSize(P.blobBytes)} (16 MiB PATCHes)`, unit: 'MB/s', target: { ratioAtLeast: 2 } },
  { metric: 'pull', label: `pull ${fmtSize(P.blobBytes)} (verified)`, unit: 'MB/s', target: { ratioAtLeast: 1 } },
  { metric: 'manifestGet', label: `manifest GET by tag (${P.connections} conns, ${clientOf('GET')})`, unit: 'req/s', target: { ratioAtLeast: 5 } },
  { metric: 'blobHead', label: `blob HEAD (${P.connections} conns, ${clientOf('HEAD')})`, unit: 'req/s', target: { ratioAtLeast: 5 } },
  { metric: 'smallPushes', label: `small image pushes (${P.images}, ${P.imageConcurrency} at a time)`, unit: 'images/s', target: { ratioAtLeast: 2 } },
  { metric: 'peakRss', label: 'server peak RSS during blob push+pull', unit: 'MiB', target: { wharfBelow: 150 } },
  { metric: 'basic5', label: `manifest GET, htpasswd Basic, bcrypt cost 5 (${clientOf('GET')})`, unit: 'req/s', target: { ratioAtLeast: 10 } },
  { metric: 'basic10', label: `manifest GET, htpasswd Basic, bcrypt cost 10 (${clientOf('GET')})`, unit: 'req/s', target: { ratioAtLeast: 10 } },
  { metric: 'basic10VsPlain', label: 'cost-10 Basic GET / same server without auth', unit: 'x', target: { wharfAtLeast: 0.8 } },
  { metric: 'tlsPush', label: `HTTPS monolithic push ${fmtSize(P.blobBytes)}`, unit: 'MB/s', target: { ratioAtLeast: 1 } },
  { metric: 'tlsPull', label: `HTTPS pull ${fmtSize(P.blobBytes)} (verified)`, unit: 'MB/s', target: { ratioAtLeast: 1 } },
  { metric: 'tlsManifestGet', label: `HTTPS manifest GET (${P.connections} conns, ${clientOf('GET')})`, unit: 'req/s', target: { ratioAtLeast: 1 } },
];

function fmtSize(n: number): string {
  return n >= 1024 * MiB ? `${n / (1024 * MiB)} GiB` : `${n / MiB} MiB`;
}

const live = new Set<RunningServer>();

/** Writes dirty pages to disk (sync(1)), so one phase's writeback does not slow the next. */
function flushDirtyPages(): void {
  try {
    execFileSync('sync', [], { timeout: 120_000 });
  } catch {
    /* best effort */
  }
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

interface Side {
  kind: ServerKind;
  server: RunningServer;
  agent: Agent;
  log: (s: string) => void;
}

/**
 * The core phases, with both servers running side by side: each phase measures one server, then the other,
 * `P.repeats` times (the order flips every round), and keeps the median. On a shared VM the same work can take twice
 * as long a few minutes later (host contention, first touch of guest memory), so a ratio is only fair between
 * measurements taken at the same time.
 */
async function measureCore(kinds: ServerKind[], blobs: { mono: BlobSource; chunked: BlobSource }): Promise<Record<string, Measured>> {
  const sides: Side[] = [];
  const samples: Record<string, Partial<Record<Metric, number[]>>> = {};
  try {
    for (const kind of kinds) {
      const server = await startServer(kind);
      live.add(server);
      const log = (s: string) => process.stdout.write(`  [${kind}] ${s}\n`);
      sides.push({ kind, server, agent: keepAliveAgent(P.imageConcurrency), log });
      samples[kind] = {};
      log(`pid ${server.pid} at ${server.url}`);
      if (!resetPeakRss(server.pid)) log('cannot reset VmHWM: peak RSS includes start-up');
    }
    const phase = async (metric: Metric, unit: string, fn: (side: Side, round: number) => Promise<number>) => {
      process.stdout.write(`${metric}:\n`);
      const got = await inTurns(P.repeats, [sides], async (side, round) => {
        const v = await fn(side, round);
        side.log(`${v.toFixed(unit === 'req/s' ? 0 : 1)} ${unit}`);
        return v;
      });
      for (const [side, xs] of got) samples[side.kind][metric] = xs;
    };
    const mb = (s: number) => P.blobBytes / 1e6 / s;

    // Each push starts with clean page cache: without it, one push pays the previous one's writeback.
    await phase('push', 'MB/s', async (x, round) => {
      flushDirtyPages();
      return mb(await timed(() => pushMonolithic(x.agent, x.server.url, `bench/big-${round}`, blobs.mono)));
    });
    await phase('chunkedPush', 'MB/s', async (x, round) => {
      flushDirtyPages();
      return mb(await timed(() => pushChunked(x.agent, x.server.url, `bench/chunked-${round}`, blobs.chunked, P.chunkBytes)));
    });
    await phase('pull', 'MB/s', async (x) => mb(await timed(() => pull(x.agent, x.server.url, 'bench/big-0', blobs.mono))));
    for (const x of sides) {
      const rss = peakRss(x.server.pid);
      if (rss !== null) samples[x.kind].peakRss = [rss / MiB];
      x.log(`peak RSS ${(rss === null ? NaN : rss / MiB).toFixed(1)} MiB`);
    }

    const refs = new Map<ServerKind, string>();
    for (const x of sides) refs.set(x.kind, (await pushImage(x.agent, x.server.url, 'bench/load', 'latest')).config);
    const common = { connections: P.connections, warmupMs: P.warmupMs, durationMs: P.durationMs };
    const load = async (x: Side, what: string, spec: LoadSpec) => {
      const r = await runLoad(spec);
      if (r.errors > 0) x.log(`${what}: ${r.errors} errors (first: ${r.firstError})`);
      return r.rps;
    };
    await phase('manifestGet', 'req/s', (x) => load(x, 'manifest GET', { ...common, url: `${x.server.url}/v2/bench/load/manifests/latest`, method: 'GET', headers: { Accept: OCI_MANIFEST } }));
    await phase('blobHead', 'req/s', (x) => load(x, 'blob HEAD', { ...common, url: `${x.server.url}/v2/bench/load/blobs/${refs.get(x.kind)}`, method: 'HEAD', headers: {} }));
    // Untimed warm-up first, as the load phases have: wharf's upload paths were not run yet and V8 compiles them
    // during the first few hundred requests. Then each round pushes into new repositories, as a new project would.
    for (const x of sides) await pushMany(x.agent, x.server.url, P.images / 4, P.imageConcurrency, 300_000, 'bench/warmup');
    await phase('smallPushes', 'images/s', (x, round) => pushMany(x.agent, x.server.url, P.images, P.imageConcurrency, 300_000, `bench/small${round}`));

    const out: Record<string, Measured> = {};
    for (const [kind, m] of Object.entries(samples)) {
      out[kind] = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, median(v)]));
    }
    lastSamples = samples;
    return out;
  } catch (err) {
    for (const x of sides) {
      const tail = x.server.output().trim();
      if (tail) process.stdout.write(`  [${x.kind}] server output:\n${tail.slice(-4000)}\n`);
    }
    throw err;
  } finally {
    for (const x of sides) {
      x.agent.destroy();
      await x.server.cleanup();
      live.delete(x.server);
    }
  }
}

/** Every sample of the last core run, for the JSON file. */
let lastSamples: Record<string, Partial<Record<Metric, number[]>>> = {};

async function measureExtraAll(kinds: ServerKind[], blobs: { mono: BlobSource }): Promise<Partial<Record<ServerKind, Measured>>> {
  const log = (kind: ServerKind, s: string) => process.stdout.write(`  [${kind}] ${s}\n`);
  const common = { rounds: P.repeats, connections: P.connections, warmupMs: P.warmupMs, durationMs: P.durationMs };
  const all = await measureExtra(kinds, { ...common, tlsBlob: blobs.mono }, runLoad, live, log);
  const out: Partial<Record<ServerKind, Measured>> = {};
  for (const kind of kinds) {
    const x = all[kind] ?? {};
    out[kind] = { basic5: x.basic5, basic10: x.basic10, tlsPush: x.tlsPush, tlsPull: x.tlsPull, tlsManifestGet: x.tlsManifestGet };
    if (x.basic10 !== undefined && x.plainManifestGet) out[kind]!.basic10VsPlain = x.basic10 / x.plainManifestGet;
  }
  return out;
}

function fmt(v: number | undefined, unit: string): string {
  if (v === undefined) return '-';
  return unit === 'req/s' ? v.toFixed(0) : unit === 'x' ? v.toFixed(2) : v.toFixed(1);
}

interface Line {
  metric: Metric;
  label: string;
  unit: string;
  wharf: number | null;
  dockerRegistry: number | null;
  ratio: number | null;
  target: string;
  met: boolean | null;
}

function lines(w: Measured, d: Measured): Line[] {
  return rowSpecs().map((r) => {
    const wv = w[r.metric];
    const dv = d[r.metric];
    const ratio = wv !== undefined && dv !== undefined && dv > 0 ? wv / dv : null;
    let target: string;
    let met: boolean | null;
    if ('wharfAtLeast' in r.target) {
      target = `wharf >= ${r.target.wharfAtLeast}`;
      met = wv === undefined ? null : wv >= r.target.wharfAtLeast;
    } else if ('ratioAtLeast' in r.target) {
      target = `>= ${r.target.ratioAtLeast}x`;
      met = ratio === null ? null : ratio >= r.target.ratioAtLeast;
    } else {
      target = `wharf < ${r.target.wharfBelow} MiB`;
      met = wv === undefined ? null : wv < r.target.wharfBelow;
    }
    return { metric: r.metric, label: r.label, unit: r.unit, wharf: wv ?? null, dockerRegistry: dv ?? null, ratio, target, met };
  });
}

function table(rows: Line[]): string {
  const head = ['metric', 'unit', 'wharf', 'docker-registry', 'wharf/d-r', 'target', 'met'];
  const body = rows.map((l) => [l.label, l.unit, fmt(l.wharf ?? undefined, l.unit), fmt(l.dockerRegistry ?? undefined, l.unit), l.ratio === null ? '-' : `${l.ratio.toFixed(2)}x`, l.target, l.met === null ? '-' : l.met ? 'yes' : 'NO']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const row = (cells: string[]) => cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [row(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(row)].join('\n');
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
  if (loadgen === 'wrk') {
    try {
      ensureDebianPackage('wrk', WRK);
    } catch (err) {
      process.stdout.write(`${(err as Error).message}: falling back to the node:http load generator\n`);
      loadgen = 'node';
    }
  }

  const load0 = loadavg();
  process.stdout.write(`bench: ${QUICK ? 'QUICK ' : ''}${cpus().length} CPUs, load average ${load0.map((x) => x.toFixed(2)).join(' ')}, node ${process.version}, load by ${loadgen}\n`);
  process.stdout.write(`generating two ${fmtSize(P.blobBytes)} blobs (digest streamed, never held whole)...\n`);
  const blobs = { mono: makeBlob(P.blobBytes), chunked: makeBlob(P.blobBytes) };

  process.stdout.write(`core phases, ${P.repeats} round(s) each, servers side by side:\n`);
  const results: Partial<Record<ServerKind, Measured>> = await measureCore(kinds, blobs);
  if (!NO_EXTRA) {
    process.stdout.write(`authentication and HTTPS, ${P.repeats} round(s) each, servers side by side:\n`);
    const extra = await measureExtraAll(kinds, blobs);
    for (const kind of kinds) Object.assign(results[kind]!, extra[kind]);
  }

  const rows = lines(results.wharf ?? {}, results['docker-registry'] ?? {});
  process.stdout.write(`\n${table(rows)}\n\n`);
  const load1 = loadavg();
  process.stdout.write(`load average at the end ${load1.map((x) => x.toFixed(2)).join(' ')} (other work on the machine makes numbers noisy)\n`);

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
  process.stdout.write(`written to bench/results/latest.json\n`);
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
