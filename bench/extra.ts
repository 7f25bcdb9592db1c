/**
 * The authentication and HTTPS phases of `npm run bench`, servers side by side, each on its own data directory:
 *   - manifest GET with Basic credentials (htpasswd at bcrypt cost 5 and 10) next to the same GET without auth;
 *   - push and pull MB/s and manifest GET over HTTPS with one self-signed certificate made by openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { pull, pushMonolithic, type BlobSource } from './blobs.js';
import { keepAliveAgent } from './http.js';
import { OCI_MANIFEST, pushImage } from './images.js';
import type { LoadResult, LoadSpec } from './loadgen.js';
import { ensureDebianPackage, startServer, type RunningServer, type ServerKind, type StartOptions } from './servers.js';

export interface ExtraMeasured {
  plainManifestGet?: number;
  basic5?: number;
  basic10?: number;
  tlsPush?: number;
  tlsPull?: number;
  tlsManifestGet?: number;
}

export interface ExtraParams {
  rounds: number;
  connections: number;
  warmupMs: number;
  durationMs: number;
  tlsBlob: BlobSource;
}

const USER = 'bench';
const PASSWORD = 'bench-password';

function makeCertificate(dir: string): { certificate: string; key: string; ca: Buffer } {
  ensureDebianPackage('openssl', '/usr/bin/openssl');
  const certificate = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', certificate, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  execFileSync('chmod', ['600', key]);
  return { certificate, key, ca: readFileSync(certificate) };
}

/** One round of a phase for one server: returns the value measured. */
type Measure = (kind: ServerKind, s: RunningServer) => Promise<number>;

/**
 * Runs the phases with every server side by side, as the core phases do: each phase starts one server per kind
 * with the same options (each on its own data directory), measures them in turn for `rounds` rounds (the order
 * flips every round), and keeps the median per server.
 */
export async function measureExtra(kinds: ServerKind[], p: ExtraParams, runLoad: (spec: LoadSpec) => Promise<LoadResult>, live: Set<RunningServer>, log: (kind: ServerKind, s: string) => void): Promise<Partial<Record<ServerKind, ExtraMeasured>>> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-extra-'));
  const dataDir = (kind: ServerKind) => join(dir, `data-${kind}`);
  const out: Partial<Record<ServerKind, ExtraMeasured>> = Object.fromEntries(kinds.map((k) => [k, {}]));
  const common = { connections: p.connections, warmupMs: p.warmupMs, durationMs: p.durationMs };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

  /** Starts one server per kind with `opts`, runs `phases` (key -> measure) on them side by side, stops them. */
  const sideBySide = async (opts: Omit<StartOptions, 'dataDir'>, phases: Array<[keyof ExtraMeasured, string, Measure]>) => {
    const servers: Array<[ServerKind, RunningServer]> = [];
    try {
      for (const kind of kinds) {
        const s = await startServer(kind, { ...opts, dataDir: dataDir(kind) });
        live.add(s);
        servers.push([kind, s]);
      }
      for (const [key, label, measure] of phases) {
        const samples = new Map<ServerKind, number[]>();
        for (let round = 0; round < p.rounds; round++) {
          for (const [kind, s] of round % 2 === 0 ? servers : [...servers].reverse()) {
            const v = await measure(kind, s);
            samples.set(kind, [...(samples.get(kind) ?? []), v]);
            log(kind, `${label} ${v.toFixed(v > 1000 ? 0 : 1)}`);
          }
        }
        for (const [kind, xs] of samples) out[kind]![key] = median(xs);
      }
    } finally {
      for (const [, s] of servers) {
        await s.cleanup();
        live.delete(s);
      }
    }
  };
  const getLoad = (what: string, headers: Record<string, string>): Measure => async (kind, s) => {
    const r = await runLoad({ ...common, url: `${s.url}/v2/bench/load/manifests/latest`, method: 'GET', headers: { Accept: OCI_MANIFEST, ...headers } });
    if (r.errors > 0) log(kind, `${what}: ${r.errors} errors (first: ${r.firstError})`);
    return r.rps;
  };

  try {
    // The image all GETs read (one per data directory), and the same GET without auth as the reference.
    await sideBySide({}, [
      [
        'plainManifestGet',
        'manifest GET without auth, req/s:',
        async (kind, s) => {
          const agent = keepAliveAgent(4);
          await pushImage(agent, s.url, 'bench/load', 'latest');
          agent.destroy();
          return getLoad('manifest GET', {})(kind, s);
        },
      ],
    ]);

    const authorization = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    for (const cost of [5, 10] as const) {
      const file = join(dir, `htpasswd-${cost}`);
      writeFileSync(file, `${USER}:${bcrypt.hashSync(PASSWORD, cost).replace(/^\$2b\$/, '$2y$')}\n`, { mode: 0o600 });
      const extra = `auth:\n  htpasswd:\n    realm: bench\n    path: ${file}\n`;
      await sideBySide({ extra }, [[cost === 5 ? 'basic5' : 'basic10', `manifest GET with Basic credentials, bcrypt cost ${cost}, req/s:`, getLoad(`Basic cost ${cost}`, { Authorization: authorization })]]);
    }

    const tls = makeCertificate(dir);
    const mb = (sec: number) => p.tlsBlob.size / 1e6 / sec;
    const timed = async (fn: () => Promise<void>) => {
      const t0 = performance.now();
      await fn();
      return (performance.now() - t0) / 1000;
    };
    await sideBySide({ tls }, [
      [
        'tlsPush',
        'HTTPS push MB/s:',
        async (_kind, s) => {
          const agent = keepAliveAgent(4, tls.ca);
          execFileSync('sync', [], { timeout: 120_000 });
          const v = mb(await timed(() => pushMonolithic(agent, s.url, 'bench/tls', p.tlsBlob)));
          agent.destroy();
          return v;
        },
      ],
      [
        'tlsPull',
        'HTTPS pull MB/s:',
        async (_kind, s) => {
          const agent = keepAliveAgent(4, tls.ca);
          const v = mb(await timed(() => pull(agent, s.url, 'bench/tls', p.tlsBlob)));
          agent.destroy();
          return v;
        },
      ],
      ['tlsManifestGet', 'HTTPS manifest GET req/s:', getLoad('HTTPS manifest GET', {})],
    ]);
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
