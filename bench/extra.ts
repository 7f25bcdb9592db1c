/**
 * The authentication and HTTPS phases of `npm run bench`, servers side by side, each on its own data directory:
 *   - manifest GET with Basic credentials (htpasswd at bcrypt cost 5 and 10) next to the same GET without auth;
 *   - push and pull MB/s (curl, the bench client counting bytes, and hashing them) and manifest GET over HTTPS
 *     with one self-signed certificate made by openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { pull, pushMonolithic, type BlobSource } from './blobs.js';
import { h2Load } from './h2load.js';
import { keepAliveAgent } from './http.js';
import { curlGet, rawGetProcess } from './pulls.js';
import { OCI_MANIFEST, pushImage } from './images.js';
import type { LoadResult, LoadSpec } from './loadgen.js';
import { inTurns, median } from './stats.js';
import { ensureDebianPackage, startServer, type RunningServer, type ServerKind, type StartOptions } from './servers.js';

export interface ExtraMeasured {
  plainManifestGet?: number;
  basic5?: number;
  basic10?: number;
  tlsPush?: number;
  tlsPull?: number;
  tlsPullCurl?: number;
  tlsPullRaw?: number;
  tlsManifestGet?: number;
  h2PullCurl?: number;
  h2ManifestGet?: number;
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

export function makeCertificate(dir: string): { certificate: string; key: string; ca: Buffer } {
  ensureDebianPackage('openssl', '/usr/bin/openssl');
  const certificate = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      certificate,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
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
export async function measureExtra(
  kinds: ServerKind[],
  p: ExtraParams,
  runLoad: (spec: LoadSpec) => Promise<LoadResult>,
  live: Set<RunningServer>,
  log: (kind: ServerKind, s: string) => void,
): Promise<Partial<Record<ServerKind, ExtraMeasured>>> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-extra-'));
  const dataDir = (kind: ServerKind) => join(dir, `data-${kind}`);
  const out: Partial<Record<ServerKind, ExtraMeasured>> = Object.fromEntries(kinds.map((k) => [k, {}]));
  const common = { connections: p.connections, warmupMs: p.warmupMs, durationMs: p.durationMs };

  interface Variant {
    key: keyof ExtraMeasured;
    label: string;
    opts: Omit<StartOptions, 'dataDir'>;
    measure: Measure;
  }
  /**
   * Starts one server per kind and variant (a kind's variants share its data directory), runs `setup` on each
   * kind's first, then measures every variant of every kind in turn, `rounds` times (the order flips every round),
   * so that the variants compared with each other (with and without auth) are measured at the same time too.
   */
  const sideBySide = async (variants: Variant[], setup?: (s: RunningServer) => Promise<void>) => {
    const servers: Array<{ v: Variant; kind: ServerKind; s: RunningServer }> = [];
    try {
      for (const v of variants) {
        for (const kind of kinds) {
          const s = await startServer(kind, { ...v.opts, dataDir: dataDir(kind) });
          live.add(s);
          servers.push({ v, kind, s });
          if (v === variants[0]) await setup?.(s);
        }
      }
      const groups = variants.map((v) => servers.filter((x) => x.v === v));
      const got = await inTurns(p.rounds, groups, async ({ v, kind, s }) => {
        const value = await v.measure(kind, s);
        log(kind, `${v.label} ${value.toFixed(value > 1000 ? 0 : 1)}`);
        return value;
      });
      for (const [{ v, kind }, xs] of got) out[kind]![v.key] = median(xs);
    } finally {
      for (const { s } of servers) {
        await s.cleanup();
        live.delete(s);
      }
    }
  };
  const getLoad =
    (what: string, headers: Record<string, string>): Measure =>
    async (kind, s) => {
      const r = await runLoad({
        ...common,
        url: `${s.url}/v2/bench/load/manifests/latest`,
        method: 'GET',
        headers: { Accept: OCI_MANIFEST, ...headers },
      });
      if (r.errors > 0) log(kind, `${what}: ${r.errors} errors (first: ${r.firstError})`);
      return r.rps;
    };

  try {
    // The same manifest GET without auth and with Basic credentials at two bcrypt costs, all measured together.
    const authorization = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    const auth: Variant[] = ([5, 10] as const).map((cost) => {
      const file = join(dir, `htpasswd-${cost}`);
      writeFileSync(file, `${USER}:${bcrypt.hashSync(PASSWORD, cost).replace(/^\$2b\$/, '$2y$')}\n`, { mode: 0o600 });
      return {
        key: cost === 5 ? 'basic5' : 'basic10',
        label: `manifest GET with Basic credentials, bcrypt cost ${cost}, req/s:`,
        opts: { extra: `auth:\n  htpasswd:\n    realm: bench\n    path: ${file}\n` },
        measure: getLoad(`Basic cost ${cost}`, { Authorization: authorization }),
      };
    });
    const plain: Variant = {
      key: 'plainManifestGet',
      label: 'manifest GET without auth, req/s:',
      opts: {},
      measure: getLoad('manifest GET', {}),
    };
    await sideBySide([plain, ...auth], async (s) => {
      const agent = keepAliveAgent(4);
      await pushImage(agent, s.url, 'bench/load', 'latest');
      agent.destroy();
    });

    const tls = makeCertificate(dir);
    const mb = (sec: number) => p.tlsBlob.size / 1e6 / sec;
    const timed = async (fn: () => Promise<void>) => {
      const t0 = performance.now();
      await fn();
      return (performance.now() - t0) / 1000;
    };
    const tlsVariant = (key: keyof ExtraMeasured, label: string, measure: Measure): Variant => ({
      key,
      label,
      opts: { tls },
      measure,
    });
    // Each kind's TLS servers share its data directory: the pull reads what the push wrote.
    const tlsPush = tlsVariant('tlsPush', 'HTTPS push MB/s:', async (_kind, s) => {
      const agent = keepAliveAgent(4, tls.ca);
      execFileSync('sync', [], { timeout: 120_000 });
      const v = mb(await timed(() => pushMonolithic(agent, s.url, 'bench/tls', p.tlsBlob)));
      agent.destroy();
      return v;
    });
    const tlsPull = tlsVariant('tlsPull', 'HTTPS pull MB/s:', async (_kind, s) => {
      const agent = keepAliveAgent(4, tls.ca);
      const v = mb(await timed(() => pull(agent, s.url, 'bench/tls', p.tlsBlob)));
      agent.destroy();
      return v;
    });
    const blobUrl = (s: RunningServer) => `${s.url}/v2/bench/tls/blobs/${p.tlsBlob.digest}`;
    const tlsCurl = tlsVariant('tlsPullCurl', 'HTTPS pull by curl MB/s:', (_kind, s) =>
      curlGet(blobUrl(s), p.tlsBlob.size, { cacert: tls.certificate }),
    );
    const tlsRaw = tlsVariant('tlsPullRaw', 'HTTPS pull, raw client MB/s:', (_kind, s) =>
      rawGetProcess(blobUrl(s), p.tlsBlob.size, { cacert: tls.certificate }),
    );
    const tlsGet = tlsVariant('tlsManifestGet', 'HTTPS manifest GET req/s:', getLoad('HTTPS manifest GET', {}));
    // HTTP/2 (what wharf and docker-registry both negotiate over TLS when the client offers it).
    const h2Curl = tlsVariant('h2PullCurl', 'HTTP/2 pull by curl MB/s:', (_kind, s) =>
      curlGet(blobUrl(s), p.tlsBlob.size, { cacert: tls.certificate, http2: true }),
    );
    const h2Get = tlsVariant(
      'h2ManifestGet',
      'HTTP/2 manifest GET req/s:',
      async (_kind, s) => (await h2Load(s.url, s.pid, tls.ca, p.connections, p.warmupMs, p.durationMs)).rps,
    );
    for (const v of [tlsPush, tlsCurl, tlsRaw, tlsPull, tlsGet, h2Curl, h2Get]) await sideBySide([v]);
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
