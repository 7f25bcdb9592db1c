/**
 * `npm run bench:mirror`: the pull-through cache, side by side. One upstream (docker-registry, holding one
 * 256 MiB layer) and, each round, fresh mirrors of it: wharf (`proxy.remoteurl`) and docker-registry configured as
 * a mirror the same way. Per mirror: the first pull (cold: fetched from the upstream while stored) and the second
 * (warm: from the cache), each as MB/s and time to first byte; beside them, the same pull straight from the
 * upstream. Servers alternate within every round (order flipped each round) and medians are reported, since the
 * machine may be shared. Writes bench/results/mirror.json.
 *
 *   BENCH_QUICK=1  64 MiB layer, 2 rounds
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import { makeBlob, pushMonolithic, type BlobSource } from './blobs.js';
import { keepAliveAgent, sendRaw } from './http.js';
import { startServer, type RunningServer, type ServerKind } from './servers.js';
import { inTurns, median } from './stats.js';

const MiB = 1024 * 1024;
const QUICK = process.env.BENCH_QUICK === '1';
const P = { blobBytes: QUICK ? 64 * MiB : 256 * MiB, rounds: QUICK ? 2 : 3 };
const REPO = 'bench/mirror';

interface Pull {
  mbps: number;
  ttfbMs: number;
}

/** GETs the blob, verifying it, timing the first body byte and the whole transfer. */
async function timedPull(agent: Agent, base: string, blob: BlobSource): Promise<Pull> {
  const t0 = process.hrtime.bigint();
  let first = 0n;
  await sendRaw(agent, 'GET', `${base}/v2/${REPO}/blobs/${blob.digest}`, {}, undefined, 600_000, async (res) => {
    if (res.statusCode !== 200) {
      res.resume();
      throw new Error(`GET blob from ${base}: HTTP ${res.statusCode}`);
    }
    const h = createHash('sha256');
    let n = 0;
    for await (const chunk of res) {
      if (first === 0n) first = process.hrtime.bigint();
      h.update(chunk as Buffer);
      n += (chunk as Buffer).length;
    }
    if (n !== blob.size || `sha256:${h.digest('hex')}` !== blob.digest)
      throw new Error(`GET blob from ${base}: wrong bytes`);
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { mbps: blob.size / MiB / seconds, ttfbMs: Number(first - t0) / 1e6 };
}

type Entry = 'direct' | ServerKind;
type Sample = { cold: Pull; warm?: Pull };

async function main(): Promise<void> {
  const blob = makeBlob(P.blobBytes);
  const upstream = await startServer('docker-registry');
  const live = new Set<RunningServer>([upstream]);
  const samples = new Map<Entry, Sample[]>();
  try {
    const agent = keepAliveAgent(4);
    await pushMonolithic(agent, upstream.url, REPO, blob);
    process.stdout.write(`upstream holds a ${P.blobBytes / MiB} MiB layer; ${P.rounds} rounds, servers alternating\n`);
    await inTurns<Entry>(P.rounds, [['direct', 'wharf', 'docker-registry']], async (entry, round) => {
      if (entry === 'direct') {
        const cold = await timedPull(agent, upstream.url, blob);
        samples.set(entry, [...(samples.get(entry) ?? []), { cold }]);
        process.stdout.write(
          `round ${round + 1} upstream direct: ${cold.mbps.toFixed(0)} MB/s, first byte ${cold.ttfbMs.toFixed(1)} ms\n`,
        );
        return 0;
      }
      const mirror = await startServer(entry, { extra: `proxy:\n  remoteurl: ${upstream.url}\n` });
      live.add(mirror);
      try {
        const a = keepAliveAgent(2);
        const cold = await timedPull(a, mirror.url, blob);
        // Distribution stores in the background; give both the same chance to finish before the warm pull.
        await new Promise((r) => setTimeout(r, 2000));
        const warm = await timedPull(a, mirror.url, blob);
        a.destroy();
        samples.set(entry, [...(samples.get(entry) ?? []), { cold, warm }]);
        process.stdout.write(
          `round ${round + 1} ${entry}: cold ${cold.mbps.toFixed(0)} MB/s (first byte ${cold.ttfbMs.toFixed(1)} ms), warm ${warm.mbps.toFixed(0)} MB/s (first byte ${warm.ttfbMs.toFixed(1)} ms)\n`,
        );
      } finally {
        await mirror.cleanup();
        live.delete(mirror);
      }
      return 0;
    });
    agent.destroy();
  } finally {
    for (const s of live) await s.cleanup();
  }
  const med = (e: Entry, pick: (s: Sample) => number | undefined) => {
    const xs = (samples.get(e) ?? []).map(pick).filter((x): x is number => x !== undefined);
    return xs.length ? Math.round(median(xs) * 10) / 10 : null;
  };
  const result: Record<string, unknown> = { layerMiB: P.blobBytes / MiB, rounds: P.rounds };
  for (const e of ['direct', 'wharf', 'docker-registry'] as Entry[]) {
    result[e] = {
      coldMBps: med(e, (s) => s.cold.mbps),
      coldTtfbMs: med(e, (s) => s.cold.ttfbMs),
      warmMBps: med(e, (s) => s.warm?.mbps),
      warmTtfbMs: med(e, (s) => s.warm?.ttfbMs),
    };
  }
  process.stdout.write(`\nmedians (MB/s, first byte ms):\n${JSON.stringify(result, null, 2)}\n`);
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}mirror.json`, JSON.stringify(result, null, 2) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
