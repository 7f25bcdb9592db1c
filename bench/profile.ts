/**
 * `node dist/bench/profile.js [seconds]`: wharf alone under the bench's manifest GET load (wrk, 32 keep-alive
 * connections, by tag, OCI Accept), run with `node --cpu-prof`; prints the server's CPU per request and the
 * functions that took the most self time. `PROFILE_URL=blobhead` profiles blob HEAD instead. The .cpuprofile is
 * kept (its path is printed) for Chrome's DevTools. `PROFILE_BASIC=1` adds htpasswd auth (bcrypt cost 5) and sends
 * Basic credentials with every request.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { keepAliveAgent } from './http.js';
import { OCI_MANIFEST, pushImage } from './images.js';
import { runWrkLoad } from './loadgen.js';
import { startServer } from './servers.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function (name and file:line), in microseconds, largest first. */
function selfTimes(p: Profile): Array<[string, number]> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const f = byId.get(p.samples[i])!.callFrame;
    const file = f.url.replace(/^.*\/(node_modules\/[^/]+|dist)\//, '$1/');
    const key = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
    out.set(key, (out.get(key) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  return [...out.entries()].sort((a, b) => b[1] - a[1]);
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 10);
  const profDir = mkdtempSync(join(tmpdir(), 'wharf-prof-'));
  const basic = process.env.PROFILE_BASIC === '1';
  const htpasswd = join(profDir, 'htpasswd');
  if (basic) writeFileSync(htpasswd, `bench:${bcrypt.hashSync('bench-password', 5)}\n`, { mode: 0o600 });
  const extra = basic ? `auth:\n  htpasswd:\n    realm: bench\n    path: ${htpasswd}\n` : undefined;
  const auth: Record<string, string> = basic
    ? { Authorization: `Basic ${Buffer.from('bench:bench-password').toString('base64')}` }
    : {};
  // The image is pushed by a server without auth on the same data directory, as the bench's auth phase does.
  const dataDir = join(profDir, 'data');
  const pusher = await startServer('wharf', { dataDir });
  const agent = keepAliveAgent(4);
  const { config } = await pushImage(agent, pusher.url, 'bench/load', 'latest');
  agent.destroy();
  await pusher.cleanup();
  const server = await startServer('wharf', { dataDir, extra, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] });
  let requests = 0;
  let cpu = 0;
  try {
    const head = process.env.PROFILE_URL === 'blobhead';
    const url = head ? `${server.url}/v2/bench/load/blobs/${config}` : `${server.url}/v2/bench/load/manifests/latest`;
    const r = await runWrkLoad({
      url,
      method: head ? 'HEAD' : 'GET',
      headers: head ? auth : { Accept: OCI_MANIFEST, ...auth },
      connections: 32,
      warmupMs: 2000,
      durationMs: seconds * 1000,
      cpuPid: server.pid,
    });
    requests = r.requests;
    cpu = r.cpuSeconds ?? NaN;
    process.stdout.write(
      `${head ? 'blob HEAD' : 'manifest GET'}: ${r.rps.toFixed(0)} req/s, ${r.errors} errors, server CPU ${((cpu / requests) * 1e6).toFixed(1)} us per request\n`,
    );
  } finally {
    await server.cleanup();
  }
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('no .cpuprofile written');
  const prof = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as Profile;
  const total = prof.timeDeltas.reduce((a, b) => a + b, 0);
  process.stdout.write(`profile: ${join(profDir, file)} (${(total / 1e6).toFixed(1)} s sampled, whole run)\n`);
  for (const [k, us] of selfTimes(prof).slice(0, Number(process.env.PROFILE_TOP ?? 40))) {
    process.stdout.write(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${k}\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
