/**
 * The core phases of `npm run bench`, with both servers running side by side: each phase measures one server,
 * then the other, `rounds` times (the order flips every round), and keeps the median. On a shared VM the same work
 * can take twice as long a few minutes later (host contention, first touch of guest memory), so a ratio is only
 * fair between measurements taken at the same time.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pull, pushChunked, pushMonolithic, type BlobSource } from './blobs.js';
import { pageTimes, seedRepositories, walkCatalog } from './catalog.js';
import { keepAliveAgent } from './http.js';
import { OCI_MANIFEST, pushImage, pushMany } from './images.js';
import type { LoadResult, LoadSpec } from './loadgen.js';
import { curlGet, halfRange, rawGetProcess, rssOf, withCpu } from './pulls.js';
import { peakRss, resetPeakRss, startServer, type RunningServer, type ServerKind } from './servers.js';
import { copyThrough, writeLayout } from './skopeo.js';
import { inTurns, median } from './stats.js';
import type { Measured, Metric } from './table.js';

const MiB = 1024 * 1024;

export interface CoreParams {
  blobBytes: number;
  chunkBytes: number;
  warmupMs: number;
  durationMs: number;
  connections: number;
  images: number;
  imageConcurrency: number;
  rounds: number;
  /** Repositories laid out for the catalog phases. */
  repositories: number;
  /** Layers of the skopeo image and the size of each. */
  skopeoLayers: number;
  skopeoLayerBytes: number;
}

interface Side {
  kind: ServerKind;
  server: RunningServer;
  agent: Agent;
  log: (s: string) => void;
}

type Samples = Record<string, Partial<Record<Metric, number[]>>>;
/** `rounds` overrides the phase's number of rounds (default p.rounds). */
type Phase = (
  metric: Metric,
  unit: string,
  fn: (side: Side, round: number) => Promise<number>,
  rounds?: number,
) => Promise<void>;

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

export async function measureCore(
  kinds: ServerKind[],
  blobs: { mono: BlobSource; chunked: BlobSource },
  p: CoreParams,
  runLoad: (spec: LoadSpec) => Promise<LoadResult>,
  live: Set<RunningServer>,
): Promise<{ medians: Record<string, Measured>; samples: Samples }> {
  const sides: Side[] = [];
  const samples: Samples = {};
  const work = mkdtempSync(join(tmpdir(), 'bench-core-'));
  try {
    for (const kind of kinds) {
      const server = await startServer(kind);
      live.add(server);
      const log = (s: string) => process.stdout.write(`  [${kind}] ${s}\n`);
      sides.push({ kind, server, agent: keepAliveAgent(p.imageConcurrency), log });
      samples[kind] = {};
      log(`pid ${server.pid} at ${server.url}`);
    }
    // Idle: a second after start, nothing asked yet but GET /v2/.
    await new Promise((r) => setTimeout(r, 1000));
    for (const x of sides) {
      samples[x.kind].idleRss = [(rssOf(x.server.pid) ?? NaN) / MiB];
      x.log(`idle RSS ${samples[x.kind].idleRss![0].toFixed(1)} MiB`);
      if (!resetPeakRss(x.server.pid)) x.log('cannot reset VmHWM: peak RSS includes start-up');
    }
    const phase: Phase = async (metric, unit, fn, rounds = p.rounds) => {
      process.stdout.write(`${metric}:\n`);
      const got = await inTurns(rounds, [sides], async (side, round) => {
        const v = await fn(side, round);
        side.log(`${v.toFixed(unit === 'req/s' ? 0 : 1)} ${unit}`);
        return v;
      });
      for (const [side, xs] of got) samples[side.kind][metric] = xs;
    };
    await blobPhases(phase, blobs, p, work);
    for (const x of sides) {
      const rss = peakRss(x.server.pid);
      if (rss !== null) samples[x.kind].peakRss = [rss / MiB];
      x.log(`peak RSS ${(rss === null ? NaN : rss / MiB).toFixed(1)} MiB`);
    }
    await requestPhases(phase, sides, p, runLoad);
    await catalogPhases(phase, sides, p);
    const medians: Record<string, Measured> = {};
    for (const [kind, m] of Object.entries(samples))
      medians[kind] = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, median(v)]));
    return { medians, samples };
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
    rmSync(work, { recursive: true, force: true });
  }
}

/** Pushes, then GETs of the same blob by curl, by the raw client (whole and Range), and by the hashing client. */
async function blobPhases(
  phase: Phase,
  blobs: { mono: BlobSource; chunked: BlobSource },
  p: CoreParams,
  work: string,
): Promise<void> {
  const mb = (s: number) => p.blobBytes / 1e6 / s;
  // Each push starts with clean page cache: without it, one push pays the previous one's writeback.
  await phase('push', 'MB/s', async (x, round) => {
    flushDirtyPages();
    return mb(await timed(() => pushMonolithic(x.agent, x.server.url, `bench/big-${round}`, blobs.mono)));
  });
  await phase('chunkedPush', 'MB/s', async (x, round) => {
    flushDirtyPages();
    return mb(
      await timed(() => pushChunked(x.agent, x.server.url, `bench/chunked-${round}`, blobs.chunked, p.chunkBytes)),
    );
  });
  const url = (x: Side) => `${x.server.url}/v2/bench/big-0/blobs/${blobs.mono.digest}`;
  const range = halfRange(p.blobBytes);
  // Server CPU per GiB during the curl GETs (the cheapest client: what is left is the server's own work), per round.
  const cpuPerGiB = new Map<ServerKind, number[]>();
  await phase('pullCurl', 'MB/s', async (x) => {
    const { value, cpu } = await withCpu(x.server.pid, () => curlGet(url(x), p.blobBytes));
    cpuPerGiB.set(x.kind, [...(cpuPerGiB.get(x.kind) ?? []), (cpu ?? NaN) / (p.blobBytes / (1024 * MiB))]);
    return value;
  });
  await phase('pullCurlRange', 'MB/s', (x) => curlGet(url(x), range.bytes, { range: range.header }));
  // The Node clients' rows swing most from one GET to the next (0.83-1.14x over 3-round runs of the same code,
  // 1.14x over 8 rounds): twice the rounds, still seconds each.
  const clientRounds = 2 * p.rounds;
  await phase('pullRaw', 'MB/s', (x) => rawGetProcess(url(x), p.blobBytes), clientRounds);
  await phase('pullRawRange', 'MB/s', (x) => rawGetProcess(url(x), range.bytes, { range: range.header }), clientRounds);
  await phase(
    'pull',
    'MB/s',
    async (x) => mb(await timed(() => pull(x.agent, x.server.url, 'bench/big-0', blobs.mono))),
    clientRounds,
  );
  await phase('cpuPerGiB', 's', async (x, round) => cpuPerGiB.get(x.kind)![round]);
  const layout = join(work, 'layout');
  writeLayout(layout, p.skopeoLayers, p.skopeoLayerBytes);
  await phase('skopeoCopy', 's', (x, round) =>
    copyThrough(
      layout,
      new URL(x.server.url).host,
      `bench/skopeo-${round}`,
      join(work, `out-${x.kind}-${round}`),
    ).finally(() => rmSync(join(work, `out-${x.kind}-${round}`), { recursive: true, force: true })),
  );
}

/** Keep-alive load on manifest GET (with the server's CPU per request), blob HEAD and tags list; small pushes. */
async function requestPhases(
  phase: Phase,
  sides: Side[],
  p: CoreParams,
  runLoad: (spec: LoadSpec) => Promise<LoadResult>,
): Promise<void> {
  const refs = new Map<ServerKind, string>();
  for (const x of sides) refs.set(x.kind, (await pushImage(x.agent, x.server.url, 'bench/load', 'latest')).config);
  const common = { connections: p.connections, warmupMs: p.warmupMs, durationMs: p.durationMs };
  const load = async (x: Side, what: string, spec: LoadSpec) => {
    const r = await runLoad({ ...spec, cpuPid: x.server.pid });
    if (r.errors > 0) x.log(`${what}: ${r.errors} errors (first: ${r.firstError})`);
    return r;
  };
  const cpuUs = new Map<ServerKind, number[]>();
  await phase('manifestGet', 'req/s', async (x) => {
    const r = await load(x, 'manifest GET', {
      ...common,
      url: `${x.server.url}/v2/bench/load/manifests/latest`,
      method: 'GET',
      headers: { Accept: OCI_MANIFEST },
    });
    if (r.cpuSeconds !== undefined && r.requests > 0)
      cpuUs.set(x.kind, [...(cpuUs.get(x.kind) ?? []), (r.cpuSeconds / r.requests) * 1e6]);
    return r.rps;
  });
  await phase('manifestCpu', 'us', async (x, round) => cpuUs.get(x.kind)?.[round] ?? NaN);
  await phase(
    'blobHead',
    'req/s',
    async (x) =>
      (
        await load(x, 'blob HEAD', {
          ...common,
          url: `${x.server.url}/v2/bench/load/blobs/${refs.get(x.kind)}`,
          method: 'HEAD',
          headers: {},
        })
      ).rps,
  );
  await phase(
    'tagsList',
    'req/s',
    async (x) =>
      (
        await load(x, 'tags list', {
          ...common,
          url: `${x.server.url}/v2/bench/load/tags/list`,
          method: 'GET',
          headers: {},
        })
      ).rps,
  );
  // Untimed warm-up first, as the load phases have: wharf's upload paths were not run yet and V8 compiles them
  // during the first few hundred requests. Then each round pushes into new repositories, as a new project would.
  for (const x of sides)
    await pushMany(x.agent, x.server.url, p.images / 4, p.imageConcurrency, 300_000, 'bench/warmup');
  await phase('smallPushes', 'images/s', (x, round) =>
    pushMany(x.agent, x.server.url, p.images, p.imageConcurrency, 300_000, `bench/small${round}`),
  );
}

/** Many repositories on disk; full catalog walks at n=1000 (median of 5 per round) and single pages (p50 of 40). */
async function catalogPhases(phase: Phase, sides: Side[], p: CoreParams): Promise<void> {
  const names = new Map<ServerKind, string[]>();
  for (const x of sides) {
    seedRepositories(join(x.server.dir, 'data'), p.repositories);
    const walk = await walkCatalog(x.agent, x.server.url, 1000); // the first walk: wharf builds its list here
    if (walk.names.length < p.repositories)
      throw new Error(
        `${x.kind}: the catalog lists ${walk.names.length} repositories, expected at least ${p.repositories}`,
      );
    names.set(x.kind, walk.names);
    x.log(`${walk.names.length} repositories, first walk ${walk.ms.toFixed(0)} ms`);
  }
  await phase('catalogWalk', 'ms', async (x) => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) times.push((await walkCatalog(x.agent, x.server.url, 1000)).ms);
    return median(times);
  });
  await phase('catalogPage', 'ms', async (x) =>
    median(await pageTimes(x.agent, x.server.url, names.get(x.kind)!, 100, 40)),
  );
}
