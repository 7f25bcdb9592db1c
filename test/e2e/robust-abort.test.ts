/**
 * The abort storm (issue 12): many concurrent requests of every kind (blob GET with and without Range,
 * monolithic POST, chunked PATCH, streamed PATCH, completing PUT, manifest PUT, catalog, tags, UI pages and API,
 * token requests), each cut at a random point: mid-headers, mid-body, right after the response starts, or during
 * a slow read; some by a reset, some by a close. Afterwards the same process (same pid) answers, every blob that
 * was acknowledged 201 is complete, none cut before its body ended is visible, and nothing is ever partial.
 * The access log is on: it is what used to crash (the socket gone by the time the line was written).
 * WHARF_ABORT_SEED replays a run; the seed is printed on failure.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect as connectH2, constants as http2constants } from 'node:http2';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { httpsStatus, makeImage, OCI_MANIFEST, pushBlob, startWharf, testConfig, type Wharf } from './harness.js';
import { makeTlsFixtures, OPENSSL, OPENSSL_MISSING, tlsConfig, type TlsFixtures } from './tls-certs.js';
import { call, rel } from './api.js';
import { writeUsers } from './access.js';
import { alive, prng } from './robust.js';

const SEED = Number(process.env.WHARF_ABORT_SEED ?? Date.now() % 2 ** 31);
const REQUESTS = 600;
const CONCURRENCY = 48;
const rnd = prng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let w: Wharf;
let big: Buffer;
let bigDigest = '';
let manifest = '';
before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-abort-'));
  writeUsers(join(dir, 'users'), { storm: 'storm-Pa55' });
  const config = testConfig({
    accessLog: true,
    logLevel: 'info',
    extra:
      'tokenserver: { issuer: storm, service: storm, htpasswd: {{dir}}/users, key: {{dir}}/token.key, certificate: {{dir}}/token.crt }\n',
  });
  w = await startWharf({ dir, config });
  big = Buffer.alloc(2 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  bigDigest = await pushBlob(w.url, 'storm/base', big);
  const img = await makeImage(w.url, 'storm/base', 'storm');
  manifest = JSON.stringify(img.manifest);
  assert.equal(
    (
      await call(w.url, '/v2/storm/base/manifests/v1', {
        method: 'PUT',
        body: manifest,
        headers: { 'Content-Type': OCI_MANIFEST },
      })
    ).status,
    201,
  );
});
after(async () => {
  await w?.cleanup();
});

/** A request as bytes: the head, the body, and where the body starts. */
interface Wire {
  kind: string;
  head: string;
  body: Buffer;
  /** For uploads: the content and digest a 201 commits. */
  blob?: Buffer;
}

const H = (lines: string[]) => `${lines.join('\r\n')}\r\nHost: 127.0.0.1\r\n\r\n`;

function chunked(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += 1000) {
    const c = data.subarray(i, i + 1000);
    parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

let counter = 0;
/** A unique blob for one upload request. */
function freshBlob(): Buffer {
  const n = 1000 + Math.floor(rnd() * 200_000);
  const b = Buffer.alloc(n, (counter++ % 250) + 1);
  b.write(`storm-${SEED}-${counter}`);
  return b;
}

async function session(): Promise<string> {
  const r = await call(w.url, '/v2/storm/up/blobs/uploads/', { method: 'POST' });
  assert.equal(r.status, 202);
  return rel(r.headers.get('location'));
}

/** One request of a random kind. Sessions for PATCH/PUT are opened here (not cut). */
async function wire(): Promise<Wire> {
  const kind = pick([
    'blob',
    'range',
    'monolithic',
    'patch',
    'stream',
    'complete',
    'manifest',
    'catalog',
    'tags',
    'ui',
    'uiapi',
    'token',
  ] as const);
  switch (kind) {
    case 'blob':
      return { kind, head: H([`GET /v2/storm/base/blobs/${bigDigest} HTTP/1.1`]), body: Buffer.alloc(0) };
    case 'range': {
      const start = Math.floor(rnd() * big.length);
      return {
        kind,
        head: H([`GET /v2/storm/base/blobs/${bigDigest} HTTP/1.1`, `Range: bytes=${start}-`]),
        body: Buffer.alloc(0),
      };
    }
    case 'monolithic': {
      const blob = freshBlob();
      return {
        kind,
        head: H([`POST /v2/storm/up/blobs/uploads/?digest=${sha(blob)} HTTP/1.1`, `Content-Length: ${blob.length}`]),
        body: blob,
        blob,
      };
    }
    case 'patch': {
      const blob = freshBlob();
      return {
        kind,
        head: H([
          `PATCH ${await session()} HTTP/1.1`,
          `Content-Length: ${blob.length}`,
          `Content-Range: 0-${blob.length - 1}`,
        ]),
        body: blob,
      };
    }
    case 'stream': {
      const blob = freshBlob();
      return {
        kind,
        head: H([`PATCH ${await session()} HTTP/1.1`, 'Transfer-Encoding: chunked']),
        body: chunked(blob),
      };
    }
    case 'complete': {
      const blob = freshBlob();
      const s = await session();
      return {
        kind,
        head: H([`PUT ${s}&digest=${sha(blob)} HTTP/1.1`, `Content-Length: ${blob.length}`]),
        body: blob,
        blob,
      };
    }
    case 'manifest': {
      const body = Buffer.from(manifest);
      return {
        kind,
        head: H([
          `PUT /v2/storm/base/manifests/t${Math.floor(rnd() * 20)} HTTP/1.1`,
          `Content-Type: ${OCI_MANIFEST}`,
          `Content-Length: ${body.length}`,
        ]),
        body,
      };
    }
    case 'catalog':
      return { kind, head: H(['GET /v2/_catalog?n=50 HTTP/1.1']), body: Buffer.alloc(0) };
    case 'tags':
      return { kind, head: H(['GET /v2/storm/base/tags/list HTTP/1.1']), body: Buffer.alloc(0) };
    case 'ui':
      return { kind, head: H(['GET / HTTP/1.1', 'Accept: text/html']), body: Buffer.alloc(0) };
    case 'uiapi':
      return {
        kind,
        head: H([
          `GET /_ui/api/${pick(['repositories', 'session', 'tags?repository=storm/base'])} HTTP/1.1`,
          'Accept: application/json',
        ]),
        body: Buffer.alloc(0),
      };
    case 'token':
      return {
        kind,
        head: H([
          `GET /auth/token?service=storm&scope=repository:storm/base:pull HTTP/1.1`,
          `Authorization: Basic ${Buffer.from('storm:storm-Pa55').toString('base64')}`,
        ]),
        body: Buffer.alloc(0),
      };
  }
}

type CutMode = 'headers' | 'body' | 'response' | 'slow';

interface Outcome {
  w: Wire;
  mode: CutMode;
  /** Whether every byte of the request was sent before the cut. */
  sentAll: boolean;
  /** The status line seen before the cut, if any. */
  status?: number;
}

/** Sends `x`, cutting it as `mode` says: a close or a reset, at a random point. */
function cut(x: Wire, mode: CutMode): Promise<Outcome> {
  const req = Buffer.concat([Buffer.from(x.head), x.body]);
  const headLen = Buffer.byteLength(x.head);
  return new Promise((resolve) => {
    const s = connect(w.port, '127.0.0.1');
    let seen = '';
    let sentAll = false;
    let done = false;
    const reset = rnd() < 0.5;
    const end = () => {
      if (done) return;
      done = true;
      if (reset) s.resetAndDestroy();
      else s.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(seen);
      resolve({ w: x, mode, sentAll, status: m ? Number(m[1]) : undefined });
    };
    s.on('error', end);
    s.on('close', end);
    s.on('data', (d) => {
      seen += d.toString('latin1').slice(0, 64);
      if (mode === 'response') end();
    });
    s.on('connect', () => {
      if (mode === 'headers') {
        s.write(req.subarray(0, 1 + Math.floor(rnd() * (headLen - 1))), () => setTimeout(end, rnd() * 20));
      } else if (mode === 'body' && x.body.length > 1) {
        s.write(req.subarray(0, headLen + 1 + Math.floor(rnd() * (x.body.length - 1))), () =>
          setTimeout(end, rnd() * 30),
        );
      } else if (mode === 'slow') {
        s.write(req, () => {
          sentAll = true;
        });
        // Read a little, then nothing, then go away.
        s.once('data', () => s.pause());
        setTimeout(end, 20 + rnd() * 300);
      } else {
        s.write(req, () => {
          sentAll = true;
        });
        setTimeout(end, 2000);
      }
    });
  });
}

test(`abort storm: ${REQUESTS} requests cut at random points, the same process keeps serving`, async (t) => {
  t.diagnostic(`seed ${SEED} (replay with WHARF_ABORT_SEED=${SEED})`);
  const pid = w.proc.pid!;
  const outcomes: Outcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < REQUESTS) {
      next++;
      const x = await wire();
      const mode = pick(['headers', 'body', 'response', 'slow'] as const);
      outcomes.push(await cut(x, mode));
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.ok(alive(pid), 'wharf died');
    assert.equal(w.proc.exitCode, null, `wharf exited:\n${w.output().slice(-2000)}`);
    assert.equal((await call(w.url, '/v2/')).status, 200);
    assert.doesNotMatch(w.output(), /TypeError|RangeError|ReferenceError|unexpected error|unhandled/);

    // Every upload: acknowledged -> complete; cut before its body ended -> not visible; otherwise complete or absent.
    let acknowledged = 0;
    for (const o of outcomes) {
      if (!o.w.blob) continue;
      const g = await call(w.url, `/v2/storm/up/blobs/${sha(o.w.blob)}`);
      if (o.status === 201) {
        acknowledged++;
        assert.equal(g.status, 200, `${o.w.kind} acknowledged 201 but not there`);
      }
      if (g.status === 200) assert.ok(g.body.equals(o.w.blob), `${o.w.kind}: a partial blob is visible`);
      else assert.equal(g.status, 404);
      if (!o.sentAll && (o.mode === 'headers' || o.mode === 'body'))
        assert.equal(g.status, 404, `${o.w.kind} cut (${o.mode}) before its body ended is visible`);
    }
    t.diagnostic(
      `${outcomes.length} requests; ${acknowledged} uploads acknowledged; modes ${JSON.stringify(count(outcomes.map((o) => o.mode)))}`,
    );
    // The kept image still pulls whole, and new work succeeds on the same process.
    const g = await call(w.url, `/v2/storm/base/blobs/${bigDigest}`);
    assert.ok(g.body.equals(big));
    const d = await pushBlob(w.url, 'storm/after', 'after the storm');
    assert.equal((await call(w.url, `/v2/storm/after/blobs/${d}`)).text, 'after the storm');
    assert.equal(w.proc.pid, pid);
  } catch (err) {
    t.diagnostic(`FAILED with seed ${SEED}: replay with WHARF_ABORT_SEED=${SEED}`);
    throw err;
  }
});

function count(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/**
 * The same over HTTPS with HTTP/2 (wharf's default with http.tls): sessions and streams cancelled while requests
 * are being answered. The access log used to read the socket of a stream whose session was already gone.
 */
describe('abort storm over HTTP/2', { skip: OPENSSL ? false : OPENSSL_MISSING }, () => {
  let fx: TlsFixtures;
  let s: Wharf;
  let digest = '';
  before(async () => {
    fx = makeTlsFixtures();
    const config = tlsConfig({ server: fx.server }).replace(
      'accesslog:\n    disabled: true',
      'accesslog:\n    disabled: false',
    );
    s = await startWharf({ config, tls: { ca: fx.ca.cert } });
    const blob = Buffer.alloc(1024 * 1024, 7);
    digest = sha(blob);
    const session = connectH2(s.url, { ca: readFileSync(fx.ca.cert) });
    await new Promise<void>((resolve, reject) => {
      const st = session.request({
        ':method': 'POST',
        ':path': `/v2/h2/base/blobs/uploads/?digest=${digest}`,
        'content-length': String(blob.length),
      });
      st.on('response', (h) => (h[':status'] === 201 ? resolve() : reject(new Error(`push: ${h[':status']}`))));
      st.on('error', reject);
      st.end(blob);
    });
    session.close();
  });
  after(async () => {
    await s?.cleanup();
    fx?.remove();
  });

  test(`${REQUESTS / 2} HTTP/2 streams cut mid-response by stream resets and whole-session destroys`, async (t) => {
    t.diagnostic(`seed ${SEED}`);
    const pid = s.proc.pid!;
    const ca = readFileSync(fx.ca.cert);
    let next = 0;
    const worker = async () => {
      while (next < REQUESTS / 2) {
        next++;
        const session = connectH2(s.url, { ca });
        session.on('error', () => undefined);
        await new Promise<void>((resolve) => {
          const paths = [
            `/v2/h2/base/blobs/${digest}`,
            '/v2/_catalog',
            '/v2/h2/base/tags/list',
            '/',
            `/v2/h2/x/blobs/uploads/?digest=${digest}`,
          ];
          const path = pick(paths);
          const st = session.request({
            ':method': path.includes('uploads') ? 'POST' : 'GET',
            ':path': path,
            accept: 'text/html',
          });
          st.on('error', () => undefined);
          const stop = () => {
            if (rnd() < 0.5) session.destroy();
            else st.close(http2constants.NGHTTP2_CANCEL, () => session.destroy());
            resolve();
          };
          if (path.includes('uploads')) st.write(Buffer.alloc(1000, 1));
          st.once('response', () => (rnd() < 0.5 ? stop() : setTimeout(stop, rnd() * 50)));
          setTimeout(stop, 200 + rnd() * 200);
        });
      }
    };
    await Promise.all(Array.from({ length: 24 }, worker));
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(alive(pid), `wharf died:\n${s.output().slice(-2000)}`);
    assert.equal(s.proc.exitCode, null, `wharf exited:\n${s.output().slice(-2000)}`);
    assert.doesNotMatch(s.output(), /TypeError|RangeError|ReferenceError|unexpected error|unhandled/);
    assert.equal(await httpsStatus(`${s.url}/v2/`, { ca: fx.ca.cert }), 200);
  });
});
