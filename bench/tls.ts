/**
 * `node dist/bench/tls.js [rounds]`: HTTPS and HTTP/2 side by side with docker-registry, alternating the servers
 * each round (medians): a 256 MiB blob GET by the bench's node:https client counting bytes, by `curl --http1.1`
 * and by `curl --http2`, and manifest GET load over one HTTP/2 connection (32 streams at a time, node:http2).
 * A probe for tuning the TLS and HTTP/2 paths; `npm run bench` has the HTTPS rows of record.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBlob, pushMonolithic } from './blobs.js';
import { makeCertificate } from './extra.js';
import { keepAliveAgent } from './http.js';
import { h2Load } from './h2load.js';
import { pushImage } from './images.js';
import { curlGet, rawGetProcess } from './pulls.js';
import { median } from './stats.js';
import { startServer, type RunningServer, type ServerKind } from './servers.js';

const BLOB = makeBlob(256 * 1024 * 1024);

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const dir = mkdtempSync(join(tmpdir(), 'bench-tls-'));
  const tls = makeCertificate(dir);
  const kinds: ServerKind[] = process.env.BENCH_ONLY === 'wharf' ? ['wharf'] : ['wharf', 'docker-registry'];
  const servers = new Map<ServerKind, RunningServer>();
  const results = new Map<string, number[]>();
  const add = (k: string, v: number) => results.set(k, [...(results.get(k) ?? []), v]);
  try {
    for (const kind of kinds) {
      const s = await startServer(kind, { tls });
      servers.set(kind, s);
      const agent = keepAliveAgent(4, tls.ca);
      await pushMonolithic(agent, s.url, 'bench/tls', BLOB);
      await pushImage(agent, s.url, 'bench/load', 'latest');
      agent.destroy();
    }
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        const s = servers.get(kind)!;
        const url = `${s.url}/v2/bench/tls/blobs/${BLOB.digest}`;
        add(`${kind} client`, await rawGetProcess(url, BLOB.size, { cacert: tls.certificate }));
        add(`${kind} curl h1`, await curlGet(url, BLOB.size, { cacert: tls.certificate }));
        add(`${kind} curl h2`, await curlGet(url, BLOB.size, { cacert: tls.certificate, http2: true }));
        const h2 = await h2Load(s.url, s.pid, tls.ca, 32, 1000, 5000);
        add(`${kind} h2 manifest`, h2.rps);
        add(`${kind} h2 manifest cpu`, h2.cpuUs);
      }
    }
  } finally {
    for (const s of servers.values()) await s.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  const rows: Array<[string, string, string]> = [
    ['client', 'HTTPS blob GET, bench client (HTTP/1.1)', 'MB/s'],
    ['curl h1', 'HTTPS blob GET, curl --http1.1', 'MB/s'],
    ['curl h2', 'HTTPS blob GET, curl --http2', 'MB/s'],
    ['h2 manifest', 'HTTP/2 manifest GET, 32 streams', 'req/s'],
    ['h2 manifest cpu', 'server CPU per HTTP/2 manifest GET', 'us'],
  ];
  process.stdout.write(`| figure | unit | wharf | docker-registry | ratio |\n| --- | --- | ---: | ---: | ---: |\n`);
  for (const [k, label, unit] of rows) {
    const w = median(results.get(`wharf ${k}`) ?? []);
    const d = median(results.get(`docker-registry ${k}`) ?? []);
    process.stdout.write(`| ${label} | ${unit} | ${w.toFixed(0)} | ${d.toFixed(0)} | ${(w / d).toFixed(2)}x |\n`);
  }
  process.stdout.write(
    `(samples: ${JSON.stringify(Object.fromEntries([...results].map(([k, v]) => [k, v.map((x) => Math.round(x))])))})\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
