/**
 * A seeded fuzz test (issue 12): a few thousand requests of every kind, with mutated methods, targets, versions,
 * headers, bodies and framing, sent raw to a live wharf. Pass: no 5xx other than 503/507 (with a JSON body), no
 * hang (every request is answered or its connection closed), the process alive, and no repository holds content
 * unless some request to it was accepted. WHARF_FUZZ_SEED replays a run (the seed is printed on failure);
 * WHARF_FUZZ_COUNT changes the number of requests.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { makeImage, OCI_INDEX, OCI_MANIFEST, startWharf, storedRepositories, type Wharf } from './harness.js';
import { call, rel } from './api.js';
import { alive, firstResponse, prng, repoLinks } from './robust.js';

const SEED = Number(process.env.WHARF_FUZZ_SEED ?? Date.now() % 2 ** 31);
const COUNT = Number(process.env.WHARF_FUZZ_COUNT ?? 3000);
const CONCURRENCY = 16;
const rnd = prng(SEED);
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

let w: Wharf;
let manifest = '';
let digests: string[] = [];
const sessions: string[] = [];
before(async () => {
  w = await startWharf();
  const img = await makeImage(w.url, 'fz/base', 'fuzz');
  manifest = JSON.stringify(img.manifest);
  digests = [img.config, img.layer];
  assert.equal(
    (
      await call(w.url, '/v2/fz/base/manifests/v1', {
        method: 'PUT',
        body: manifest,
        headers: { 'Content-Type': OCI_MANIFEST },
      })
    ).status,
    201,
  );
  for (let i = 0; i < 40; i++) {
    const r = await call(w.url, `/v2/fz/s${i}/blobs/uploads/`, { method: 'POST' });
    sessions.push(rel(r.headers.get('location')));
  }
});
after(async () => {
  await w?.cleanup();
});

interface Req {
  method: string;
  target: string;
  version: string;
  headers: Array<[string, string]>;
  body: Buffer;
  eol: string;
}

/** A valid request of a random kind, for repository `fz/r<n>` where it writes. */
function template(n: number): Req {
  const repo = `fz/r${n}`;
  const d = pick(digests);
  const r = (
    method: string,
    target: string,
    body: Buffer | string = '',
    headers: Array<[string, string]> = [],
  ): Req => ({
    method,
    target,
    version: 'HTTP/1.1',
    headers: [['Host', '127.0.0.1'], ...headers],
    body: Buffer.from(body),
    eol: '\r\n',
  });
  switch (int(14)) {
    case 0:
      return r('GET', '/v2/');
    case 1:
      return r('GET', `/v2/_catalog?n=${int(5)}&last=${pick(['', 'fz', 'zz'])}`);
    case 2:
      return r('GET', `/v2/fz/base/tags/list?n=${int(3)}`);
    case 3:
      return r(pick(['GET', 'HEAD']), `/v2/fz/base/manifests/${pick(['v1', d])}`, '', [
        ['Accept', pick([OCI_MANIFEST, OCI_INDEX, '*/*', ''])],
      ]);
    case 4:
      return r('PUT', `/v2/${repo}/manifests/${pick(['v1', 'latest', d])}`, manifest, [
        ['Content-Type', pick([OCI_MANIFEST, OCI_INDEX, 'application/json'])],
      ]);
    case 5:
      return r('GET', `/v2/fz/base/blobs/${d}`, '', [
        ['Range', pick(['bytes=0-10', 'bytes=5-', 'bytes=-3', 'bytes=99999-', 'bytes=1-0'])],
      ]);
    case 6: {
      const data = `fuzz blob ${n}`;
      return r('POST', `/v2/${repo}/blobs/uploads/?digest=${pick([d, 'sha256:' + '0'.repeat(64)])}`, data);
    }
    case 7:
      return r('POST', `/v2/${repo}/blobs/uploads/`);
    case 8:
      return r('PATCH', pick(sessions), `chunk ${n}`, [['Content-Range', pick(['0-7', '0-100', '5-9', 'x'])]]);
    case 9:
      return r('PUT', `${pick(sessions)}&digest=${d}`, pick(['', 'final']));
    case 10:
      return r('POST', `/v2/${repo}/blobs/uploads/?mount=${d}&from=${pick(['fz/base', 'fz/none', 'Bad'])}`);
    case 11:
      return r('DELETE', pick([`/v2/${repo}/manifests/v1`, `/v2/${repo}/blobs/${d}`, `${pick(sessions)}`]));
    case 12:
      return r('GET', pick(['/', '/_ui/api/repositories', '/_ui/app.js', '/_ui/api/tags?repository=fz/base']), '', [
        ['Accept', 'text/html'],
      ]);
    default:
      return r('GET', `/v2/fz/base/referrers/${d}?artifactType=${pick(['', 'x'])}`);
  }
}

const WEIRD = ['%00', '%2e%2e', '../', '//', '%zz', '\u00e9', '~', ';', '?', '#', ' ', 'A', '_', '%2F', '\\', '*'];

function mutateTarget(t: string): string {
  const i = int(t.length + 1);
  switch (int(6)) {
    case 0:
      return t.slice(0, i) + pick(WEIRD) + t.slice(i);
    case 1:
      return t.slice(0, i) + t.slice(i + 1 + int(5));
    case 2:
      return t + 'a'.repeat(int(3) === 0 ? 70_000 : 300);
    case 3:
      return `http://${pick(['127.0.0.1:' + w.port, 'example.com', 'localhost:' + w.port, '[::1]'])}${t}`;
    case 4:
      return pick(['*', 'example.com:443', '', 'v2/']);
    default:
      return t.replace(/[a-z]/, (c) => c.toUpperCase());
  }
}

function deepJson(): string {
  const n = pick([63, 65, 1000, 100_000]);
  return int(2) === 0 ? '['.repeat(n) + ']'.repeat(n) + ',' : '{"a":'.repeat(n) + '1' + '}'.repeat(n) + ',';
}

function mutateBody(b: Buffer): Buffer {
  const s = b.toString('latin1');
  switch (int(7)) {
    case 0:
      return b.subarray(0, int(b.length + 1));
    case 1:
      return Buffer.concat([b, Buffer.alloc(1 + int(2000), int(256))]);
    case 2: {
      const c = Buffer.from(b);
      for (let k = 0; k < 3 && c.length > 0; k++) c[int(c.length)] = int(256);
      return c;
    }
    case 3:
      return Buffer.from(
        s.replace(
          /"size":\d+/,
          `"size":${pick(['1e30', '1180591620717411303424', '-1', '1.5', '"7"', 'null', '9007199254740993'])}`,
        ),
        'latin1',
      );
    case 4:
      return Buffer.from(s.replace(/"layers":\[/, `"layers":[${deepJson()}`), 'latin1');
    case 5:
      return Buffer.from(deepJson().slice(0, -1));
    default:
      return Buffer.from(
        s.replace(/"schemaVersion":2/, `"schemaVersion":${pick(['1', '"2"', '2.0', '[]'])}`),
        'latin1',
      );
  }
}

function mutateHeaders(r: Req): void {
  const h = r.headers;
  switch (int(9)) {
    case 0:
      r.headers = h.filter(([k]) => k !== 'Host');
      break;
    case 1:
      h.push(['Host', pick(['other', '127.0.0.1', ''])]);
      break;
    case 2:
      h.push([
        'Content-Length',
        pick(['-1', '1e3', 'abc', ' 5', '5, 6', '99999999999999999999', String(r.body.length + 10)]),
      ]);
      break;
    case 3:
      h.push([
        'Transfer-Encoding',
        pick(['chunked', 'gzip, chunked', 'gzip', 'chunked, chunked', 'identity', ' chunked']),
      ]);
      break;
    case 4:
      h.push([pick(['X-Long', 'Cookie']), 'x'.repeat(pick([100, 20_000, 70_000]))]);
      break;
    case 5:
      h.push([pick(['Bad Header', 'Bad\u0001', '', ':authority']), 'v']);
      break;
    case 6:
      h.push([
        'Authorization',
        pick(['Basic !!!', 'Bearer x.y.z', 'Basic ' + Buffer.from('a:b').toString('base64'), '']),
      ]);
      break;
    case 7:
      h.push(['Expect', '100-continue']);
      break;
    default:
      h.push([
        pick([
          'Content-Range',
          'Range',
          'Accept',
          'Content-Type',
          'If-None-Match',
          'X-Forwarded-Host',
          'X-Forwarded-Proto',
        ]),
        pick(['bytes=0-', '0-', '\u00ff\u00fe', '*', 'evil.example', 'gopher', '"' + 'x'.repeat(300) + '"']),
      ]);
  }
}

/** Applies 0 to 3 random mutations; returns the bytes and whether the declared body is longer than what is sent. */
function mutate(r: Req): { bytes: Buffer; declaresMore: boolean } {
  const k = int(8) === 0 ? 0 : 1 + int(3);
  let declared: number | null = r.body.length;
  for (let i = 0; i < k; i++) {
    switch (int(6)) {
      case 0:
        r.method = pick([
          'GET',
          'PUT',
          'POST',
          'PATCH',
          'DELETE',
          'HEAD',
          'OPTIONS',
          'TRACE',
          'CONNECT',
          'FOO',
          'get',
          'M-SEARCH',
          'PROPFIND',
        ]);
        break;
      case 1:
        r.target = mutateTarget(r.target);
        break;
      case 2:
        r.version = pick(['HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', '', 'HTTP/1.1 x', 'http/1.1', 'HTTP/0.9']);
        break;
      case 3:
        mutateHeaders(r);
        break;
      case 4:
        if (int(2) === 0) declared = null;
        r.body = mutateBody(r.body);
        break;
      default:
        r.eol = pick(['\n', '\r\n', '\r']);
    }
  }
  const headers = [...r.headers];
  const explicit = headers.some(([k]) => /^(content-length|transfer-encoding)$/i.test(k));
  // Either the true length of the (mutated) body, or the length of the template's body when the body was mutated.
  if (!explicit && (r.body.length > 0 || ['PUT', 'POST', 'PATCH'].includes(r.method)))
    headers.push(['Content-Length', String(declared ?? r.body.length)]);
  headers.push(['Connection', 'close']);
  const line = r.version === '' ? `${r.method} ${r.target}` : `${r.method} ${r.target} ${r.version}`;
  const head = [line, ...headers.map(([k, v]) => `${k}: ${v}`)].join(r.eol) + r.eol + r.eol;
  const cl = headers.find(([k]) => /^content-length$/i.test(k))?.[1];
  const declaresMore = cl !== undefined && Number(cl) > r.body.length;
  return {
    bytes: Buffer.concat([Buffer.from(head, 'latin1'), r.body]),
    declaresMore: declaresMore || headers.some(([k]) => /^transfer-encoding$/i.test(k)),
  };
}

interface Result {
  status?: number;
  text: string;
  hung: boolean;
}

/** Sends `bytes`; waits for an answer or a close (half-closing after a while, for requests that promise more). */
function send(bytes: Buffer): Promise<Result> {
  return new Promise((resolve) => {
    const s = connect(w.port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (hung: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(t1);
      clearTimeout(t2);
      s.destroy();
      const res = firstResponse(text);
      resolve({ status: res?.status, text, hung });
    };
    const t1 = setTimeout(() => s.end(), 3000);
    const t2 = setTimeout(() => finish(true), 10_000);
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (text.length > 200_000) finish(false);
    });
    s.on('error', () => finish(false));
    s.on('close', () => finish(false));
    s.on('end', () => finish(false));
    s.on('connect', () => s.write(bytes));
  });
}

/** The repository a target writes to, decoded as the server decodes it. */
function repoOf(target: string): string | null {
  const m = /^(?:https?:\/\/[^/]+)?\/v2\/(.+?)\/(?:blobs|manifests|tags|referrers)\//.exec(target);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1];
  }
}

test(`fuzz: ${COUNT} mutated requests`, { timeout: 120_000 }, async (t) => {
  t.diagnostic(`seed ${SEED} (replay with WHARF_FUZZ_SEED=${SEED})`);
  const pid = w.proc.pid!;
  const accepted = new Set<string>();
  const problems: string[] = [];
  const statuses: Record<string, number> = {};
  /** Requests the server closed without an answer (allowed: e.g. a request line it cannot even parse as HTTP). */
  const closedSamples: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < COUNT && problems.length < 5) {
      const n = next++;
      const r = template(n);
      const { bytes } = mutate(r);
      const res = await send(bytes);
      const shown = JSON.stringify(bytes.toString('latin1').slice(0, 300));
      statuses[String(res.status ?? 'closed')] = (statuses[String(res.status ?? 'closed')] ?? 0) + 1;
      if (res.hung) problems.push(`#${n} hung: ${shown}`);
      if (res.status === undefined && closedSamples.length < 3) closedSamples.push(shown);
      if (res.status !== undefined && res.status >= 500) {
        const parsed = firstResponse(res.text)!;
        const json = /^application\/json/.test(parsed.headers['content-type'] ?? '');
        if (!(res.status === 503 || res.status === 507) || !json)
          problems.push(`#${n} answered ${res.status}: ${shown} -> ${JSON.stringify(parsed.body.slice(0, 200))}`);
      }
      const repo = repoOf(r.target);
      if (repo && res.status !== undefined && res.status >= 200 && res.status < 300) accepted.add(repo);
      if (!alive(pid)) problems.push(`#${n} killed wharf: ${shown}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    t.diagnostic(`statuses ${JSON.stringify(statuses)}`);
    for (const c of closedSamples) t.diagnostic(`closed without an answer: ${c.slice(0, 160)}`);
    assert.deepEqual(problems, []);
    assert.ok(alive(pid), 'wharf died');
    assert.equal((await call(w.url, '/v2/')).status, 200);
    assert.doesNotMatch(w.output(), /TypeError|RangeError|ReferenceError|unexpected error|unhandled/);
    // Nothing refused is stored: a repository holding links had some request accepted.
    for (const repo of storedRepositories(w.dataDir)) {
      if (repo === 'fz/base' || /^fz\/s\d+$/.test(repo) || accepted.has(repo)) continue;
      const links = repoLinks(w.dataDir, repo);
      assert.deepEqual(links, [], `${repo} holds content though every request to it was refused`);
    }
  } catch (err) {
    t.diagnostic(`FAILED with seed ${SEED}: replay with WHARF_FUZZ_SEED=${SEED}`);
    throw err;
  }
});
