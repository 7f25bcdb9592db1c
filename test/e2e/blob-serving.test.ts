/**
 * Blob GET correctness where the fast path (1 MiB slices read into reused buffers, the next read overlapping the
 * write: src/http/slices.ts) could go wrong: Range at every boundary, blobs larger than a slice, a client that
 * reads slowly, clients that go away mid-body (no file handle left open), more concurrent pulls than the buffer
 * pool holds, and an empty blob.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pushBlob, sha256, startWharf, type Wharf } from './harness.js';

const SLICE = 1024 * 1024;
const MiB = 1024 * 1024;

/** Open descriptors of a process (Linux /proc). */
const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
/** Resident memory of a process in bytes (Linux /proc). */
const rss = (pid: number) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

/** Waits until `ok()` holds, checking every 50 ms; false if it still does not after `ms`. */
async function eventually(ok: () => boolean, ms = 10_000): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50)))
    if (ok()) return true;
  return ok();
}

/** Sends a raw GET and returns the socket with nothing read yet (paused). */
function rawGet(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      resolve(s);
    });
    s.pause();
    s.once('error', reject);
  });
}

/** Reads a whole raw HTTP/1.1 response (Content-Length framed) from a paused socket; returns the body. */
function readResponse(s: Socket): Promise<{ head: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    let headEnd = -1;
    let want = -1;
    s.on('data', (d: Buffer) => {
      parts.push(d);
      total += d.length;
      if (headEnd < 0) {
        const all = Buffer.concat(parts);
        headEnd = all.indexOf('\r\n\r\n');
        if (headEnd >= 0)
          want = headEnd + 4 + Number(/content-length: (\d+)/i.exec(all.subarray(0, headEnd).toString())![1]);
      }
      if (want >= 0 && total >= want) {
        const all = Buffer.concat(parts);
        s.destroy();
        resolve({ head: all.subarray(0, headEnd).toString(), body: all.subarray(headEnd + 4, want) });
      }
    });
    s.once('error', reject);
    s.resume();
  });
}

describe('blob GET: ranges, large blobs, slow and vanishing clients', () => {
  let w: Wharf;
  // Two full slices, a partial third, and an odd tail: every slice boundary is inside the blob.
  const blob = randomBytes(2 * SLICE + 600_001);
  let digest: string;
  const big = randomBytes(64 * MiB);
  let bigDigest: string;
  const path = () => `/v2/serve/test/blobs/${digest}`;

  before(async () => {
    w = await startWharf();
    digest = await pushBlob(w.url, 'serve/test', blob);
    bigDigest = await pushBlob(w.url, 'serve/test', big);
  });
  after(async () => w?.cleanup());

  const get = async (range?: string) => {
    const r = await fetch(`${w.url}${path()}`, { headers: range ? { Range: range } : {} });
    return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
  };

  it('serves a blob larger than the read slice whole, byte for byte', async () => {
    const r = await get();
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-length'), String(blob.length));
    assert.equal(sha256(r.body), digest);
  });

  it('answers every Range around the first byte, the last byte and each slice boundary with exactly those bytes', async () => {
    const size = blob.length;
    const cases: Array<[string, number, number]> = [];
    const add = (start: number, last: number) => cases.push([`bytes=${start}-${last}`, start, last + 1]);
    add(0, 0);
    add(0, 1);
    add(size - 1, size - 1);
    add(size - 2, size - 1);
    for (const b of [SLICE, 2 * SLICE]) {
      for (const d of [-1, 0, 1]) {
        add(b + d, b + d); // one byte next to the boundary
        add(0, b + d); // from the start up to around it
        add(b + d, size - 1); // from around it to the end
      }
      add(b - 1, b); // the two bytes across it
      add(b - SLICE / 2, b + SLICE / 2); // a slice-sized range straddling it
    }
    add(1, size - 2);
    for (const [range, start, end] of cases) {
      const r = await get(range);
      assert.equal(r.status, 206, range);
      assert.equal(r.headers.get('content-range'), `bytes ${start}-${end - 1}/${size}`, range);
      assert.ok(r.body.equals(blob.subarray(start, end)), `${range}: wrong bytes`);
    }
  });

  it('answers open-ended, past-the-end and suffix ranges', async () => {
    const size = blob.length;
    const cases: Array<[string, number, number]> = [
      [`bytes=${SLICE}-`, SLICE, size],
      [`bytes=${size - 1}-`, size - 1, size],
      [`bytes=5-${size + 1000}`, 5, size], // an end past the blob is clamped
      ['bytes=-1', size - 1, size],
      [`bytes=-${SLICE + 1}`, size - SLICE - 1, size],
      [`bytes=-${size}`, 0, size],
      [`bytes=-${size + 10}`, 0, size], // a suffix longer than the blob is the whole blob
    ];
    for (const [range, start, end] of cases) {
      const r = await get(range);
      assert.equal(r.status, 206, range);
      assert.equal(r.headers.get('content-range'), `bytes ${start}-${end - 1}/${size}`, range);
      assert.ok(r.body.equals(blob.subarray(start, end)), `${range}: wrong bytes`);
    }
  });

  it('refuses unsatisfiable ranges with 416, the size in Content-Range and an OCI error body', async () => {
    const size = blob.length;
    for (const range of [
      `bytes=${size}-`,
      `bytes=${size}-${size + 5}`,
      `bytes=${size + 100}-`,
      'bytes=-0',
      'bytes=10-5',
    ]) {
      const r = await get(range);
      assert.equal(r.status, 416, range);
      assert.equal(r.headers.get('content-range'), `bytes */${size}`, range);
      const body = JSON.parse(r.body.toString()) as { errors: Array<{ code: string }> };
      assert.ok(body.errors.length > 0 && typeof body.errors[0].code === 'string', range);
    }
  });

  it('serves a blob of zero bytes', async () => {
    const empty = await pushBlob(w.url, 'serve/test', Buffer.alloc(0));
    const r = await fetch(`${w.url}/v2/serve/test/blobs/${empty}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-length'), '0');
    assert.equal((await r.arrayBuffer()).byteLength, 0);
  });

  it('holds a client that does not read to a few slices of memory, then completes its body intact', async () => {
    const pid = w.proc.pid!;
    const s = await rawGet(w.port, `/v2/serve/test/blobs/${bigDigest}`);
    const before = rss(pid);
    // The server writes until the socket buffers are full, then must wait: give it time to (wrongly) read on.
    await new Promise((r) => setTimeout(r, 1500));
    const held = rss(pid) - before;
    assert.ok(held < 24 * MiB, `server memory grew by ${(held / MiB).toFixed(1)} MiB for a 64 MiB blob nobody reads`);
    const { head, body } = await readResponse(s);
    assert.match(head, /^HTTP\/1\.1 200/);
    assert.equal(sha256(body), bigDigest);
  });

  it('closes the file of every GET whose client goes away mid-body, and serves correctly after', async () => {
    const pid = w.proc.pid!;
    // A first GET so that whatever the process opens once (and keeps) is open before counting.
    assert.equal(sha256((await get()).body), digest);
    const baseline = openFds(pid);
    for (let round = 0; round < 3; round++) {
      const sockets = await Promise.all(
        Array.from({ length: 8 }, () => rawGet(w.port, `/v2/serve/test/blobs/${bigDigest}`)),
      );
      // Read a little of each (the body has started), then go away.
      await Promise.all(sockets.map((s) => new Promise<void>((r) => s.once('data', () => r()).resume())));
      for (const s of sockets) s.destroy();
    }
    const settled = await eventually(() => openFds(pid) <= baseline);
    assert.ok(settled, `open descriptors: ${openFds(pid)} after the aborted GETs, ${baseline} before`);
    const r = await fetch(`${w.url}/v2/serve/test/blobs/${bigDigest}`);
    assert.equal(sha256(Buffer.from(await r.arrayBuffer())), bigDigest);
  });

  it('serves more concurrent GETs than the slice pool holds, each intact', async () => {
    const results = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const r = await fetch(`${w.url}/v2/serve/test/blobs/${i % 2 ? bigDigest : digest}`);
        return sha256(Buffer.from(await r.arrayBuffer())) === (i % 2 ? bigDigest : digest);
      }),
    );
    assert.deepEqual(
      results,
      results.map(() => true),
    );
  });
});
