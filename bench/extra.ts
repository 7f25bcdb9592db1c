/**
 * The authentication and HTTPS phases of `npm run bench`, for each server on its own data directory:
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
import { ensureDebianPackage, startServer, type RunningServer, type ServerKind } from './servers.js';

export interface ExtraMeasured {
  plainManifestGet?: number;
  basic5?: number;
  basic10?: number;
  tlsPush?: number;
  tlsPull?: number;
  tlsManifestGet?: number;
}

export interface ExtraParams {
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

export async function measureExtra(kind: ServerKind, p: ExtraParams, runLoad: (spec: LoadSpec) => Promise<LoadResult>, live: Set<RunningServer>, log: (s: string) => void): Promise<ExtraMeasured> {
  const dir = mkdtempSync(join(tmpdir(), `bench-extra-${kind}-`));
  const dataDir = join(dir, 'data');
  const out: ExtraMeasured = {};
  const common = { connections: p.connections, warmupMs: p.warmupMs, durationMs: p.durationMs };
  const run = async <T>(opts: Parameters<typeof startServer>[1], fn: (s: RunningServer) => Promise<T>): Promise<T> => {
    const s = await startServer(kind, opts);
    live.add(s);
    try {
      return await fn(s);
    } finally {
      await s.cleanup();
      live.delete(s);
    }
  };
  try {
    // The image all GETs read, and the same GET without auth as the reference.
    await run({ dataDir }, async (s) => {
      const agent = keepAliveAgent(4);
      await pushImage(agent, s.url, 'bench/load', 'latest');
      agent.destroy();
      const r = await runLoad({ ...common, url: `${s.url}/v2/bench/load/manifests/latest`, method: 'GET', headers: { Accept: OCI_MANIFEST } });
      out.plainManifestGet = r.rps;
      log(`manifest GET without auth ${r.rps.toFixed(0)} req/s`);
    });

    for (const cost of [5, 10] as const) {
      const file = join(dir, `htpasswd-${cost}`);
      writeFileSync(file, `${USER}:${bcrypt.hashSync(PASSWORD, cost).replace(/^\$2b\$/, '$2y$')}\n`, { mode: 0o600 });
      const extra = `auth:\n  htpasswd:\n    realm: bench\n    path: ${file}\n`;
      await run({ dataDir, extra }, async (s) => {
        const authorization = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
        const r = await runLoad({ ...common, url: `${s.url}/v2/bench/load/manifests/latest`, method: 'GET', headers: { Accept: OCI_MANIFEST, Authorization: authorization } });
        if (r.errors > 0) log(`Basic cost ${cost}: ${r.errors} errors (first: ${r.firstError})`);
        out[cost === 5 ? 'basic5' : 'basic10'] = r.rps;
        log(`manifest GET with Basic credentials, bcrypt cost ${cost}: ${r.rps.toFixed(0)} req/s`);
      });
    }

    const tls = makeCertificate(dir);
    await run({ dataDir, tls }, async (s) => {
      const agent = keepAliveAgent(4, tls.ca);
      const mb = (n: number, sec: number) => n / 1e6 / sec;
      execFileSync('sync', [], { timeout: 120_000 });
      let t0 = performance.now();
      await pushMonolithic(agent, s.url, 'bench/tls', p.tlsBlob);
      out.tlsPush = mb(p.tlsBlob.size, (performance.now() - t0) / 1000);
      t0 = performance.now();
      await pull(agent, s.url, 'bench/tls', p.tlsBlob);
      out.tlsPull = mb(p.tlsBlob.size, (performance.now() - t0) / 1000);
      agent.destroy();
      log(`HTTPS push ${out.tlsPush.toFixed(1)} MB/s, pull ${out.tlsPull.toFixed(1)} MB/s`);
      const r = await runLoad({ ...common, url: `${s.url}/v2/bench/load/manifests/latest`, method: 'GET', headers: { Accept: OCI_MANIFEST } });
      if (r.errors > 0) log(`HTTPS manifest GET: ${r.errors} errors (first: ${r.firstError})`);
      out.tlsManifestGet = r.rps;
      log(`HTTPS manifest GET ${r.rps.toFixed(0)} req/s`);
    });
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
