/**
 * The spool under the readers that matter, over real HTTP on loopback: a client that stops reading, a client that
 * leaves, a lying body, and a write into storage that stalls. Each download is fed from a PassThrough playing the
 * upstream's body. Every case runs with a spool file of its own and over the storage's file (what the filesystem
 * driver gives: the spool reads the upload file that the write into storage appends to).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, test } from 'node:test';
import { Spool } from './spool.js';

const MiB = 1024 * 1024;
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A server whose every GET is `spool.pipeTo(res)` of the current spool, ended on success, destroyed on failure. */
let current: Spool;
const server: Server = createServer((req, res) => {
  // `?start=&end=`: a byte range, as a Range request is served.
  const q = new URL(req.url ?? '/', 'http://x').searchParams;
  const start = Number(q.get('start') ?? 0);
  const end = q.has('end') ? Number(q.get('end')) : undefined;
  res.writeHead(200, { 'Content-Length': (end ?? current.size ?? 0) - start || undefined });
  res.flushHeaders();
  current.pipeTo(res, start, end).then(
    () => res.end(),
    () => res.destroy(),
  );
});
const listening = new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
after(() => server.close());

/** GETs the spool; `paused` leaves the body unread until resume(). */
async function client(paused = false, query = ''): Promise<{ res: IncomingMessage; body: Promise<Buffer> }> {
  await listening;
  const { port } = server.address() as AddressInfo;
  const res = await new Promise<IncomingMessage>((resolve, reject) =>
    get(`http://127.0.0.1:${port}/${query}`, resolve).once('error', reject),
  );
  if (paused) res.pause();
  const body = new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    res.on('data', (c: Buffer) => parts.push(c));
    res.once('end', () => resolve(Buffer.concat(parts)));
    res.once('error', reject);
    res.once('aborted', () => reject(new Error('aborted')));
  });
  body.catch(() => undefined);
  return { res, body };
}

/** Feeds `data` into `body` in 64 KiB chunks, minding backpressure. */
async function feed(body: PassThrough, data: Buffer, endIt = true): Promise<void> {
  for (let i = 0; i < data.length; i += 64 * 1024) {
    if (!body.write(data.subarray(i, i + 64 * 1024))) await new Promise((r) => body.once('drain', r));
  }
  if (endIt) body.end();
}

type Mode = 'own file' | 'over storage';
const MODES: Mode[] = ['own file', 'over storage'];
const dir = mkdtempSync(join(tmpdir(), 'spool-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/**
 * A new spool as `current`, and what drains its store reader into storage: a buffer ('own file'), or a file
 * written through a stream as the filesystem driver's append does, which the spool itself reads ('over storage').
 * `fail` makes storage fail after that many bytes; the drain then tells the spool, as BlobProxy does.
 */
async function begin(mode: Mode, size: number, fail?: number): Promise<() => Promise<Buffer>> {
  if (mode === 'own file') {
    current = await Spool.create(size);
    const r = current.storeReader();
    return async () => {
      const parts: Buffer[] = [];
      try {
        for await (const c of r.chunks) parts.push(c);
      } finally {
        r.close();
      }
      return Buffer.concat(parts);
    };
  }
  const path = join(dir, `upload-${files++}`);
  const fd = await open(path, 'w+');
  current = Spool.over(
    {
      size: 0,
      read: async (into, length, position) => (await fd.read(into, 0, length, position)).bytesRead,
      close: () => fd.close(),
    },
    size,
  );
  const spool = current;
  const r = spool.storeReader();
  return async () => {
    let n = 0;
    async function* counted() {
      for await (const c of r.chunks) {
        n += c.length;
        if (fail !== undefined && n > fail) throw new Error('no space left on device');
        yield c;
      }
    }
    try {
      await pipeline(counted(), createWriteStream(path, { flags: 'r+' }));
    } catch (err) {
      spool.storageFailed(err as Error);
      throw err;
    } finally {
      r.close();
    }
    return readFile(path);
  };
}

for (const mode of MODES)
  test(`a client that stops reading neither holds back the download nor another client; it gets every byte later (${mode})`, async () => {
    const data = randomBytes(24 * MiB);
    const toStore = (await begin(mode, data.length))();
    const body = new PassThrough();
    const filled = current.fill(body, 'sha256', hex(data), () => {});
    const slow = await client(true);
    const fast = await client();
    await feed(body, data);
    await filled;
    assert.equal(hex(await fast.body), hex(data));
    assert.equal(hex(await toStore), hex(data));
    // The download ended while the slow client had read nothing: it reads from the spool file now.
    slow.res.resume();
    assert.equal(hex(await slow.body), hex(data));
    current.release();
  });

for (const mode of MODES)
  test(`a client that leaves mid-pull stops nothing: the download and the write into storage complete (${mode})`, async () => {
    const data = randomBytes(8 * MiB);
    const toStore = (await begin(mode, data.length))();
    const body = new PassThrough();
    const filled = current.fill(body, 'sha256', hex(data), () => {});
    const gone = await client();
    const stays = await client();
    await feed(body, data.subarray(0, 2 * MiB), false);
    gone.res.destroy();
    await feed(body, data.subarray(2 * MiB));
    await filled;
    assert.equal(hex(await stays.body), hex(data));
    assert.equal(hex(await toStore), hex(data));
    await assert.rejects(gone.body);
    current.release();
  });

for (const mode of MODES)
  test(`wrong bytes or a short body: the download fails, no client gets the whole length, storage gets an error (${mode})`, async () => {
    for (const lie of ['wrong', 'short'] as const) {
      const data = randomBytes(3 * MiB);
      const toStore = (await begin(mode, data.length))();
      const body = new PassThrough();
      const filled = current.fill(body, 'sha256', hex(data), () => {});
      filled.catch(() => undefined);
      toStore.catch(() => undefined);
      const c = await client();
      const sent = Buffer.from(data);
      if (lie === 'wrong') sent[sent.length - 10] ^= 1;
      await feed(body, lie === 'short' ? sent.subarray(0, sent.length - 1) : sent);
      await assert.rejects(filled, lie === 'wrong' ? /digest/ : /ended after/);
      await assert.rejects(c.body, 'the client saw a complete response');
      await assert.rejects(toStore, 'storage was handed a complete blob');
      current.release();
    }
  });

for (const mode of MODES)
  test(`a write into storage that stalls paces the download (memory stays bounded), then gets every byte (${mode})`, async () => {
    const data = randomBytes(32 * MiB);
    const drain = await begin(mode, data.length);
    const body = new PassThrough();
    let most = 0;
    const filled = current.fill(body, 'sha256', hex(data), () => (most = Math.max(most, current.written)));
    const fed = feed(body, data);
    // Storage reads nothing for a while: the download may run ahead by 8 MiB (plus what is in flight), no more.
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(most <= 9 * MiB, `the download ran ${most} bytes ahead of storage`);
    const stored = await drain();
    await fed;
    await filled;
    assert.equal(hex(stored), hex(data));
    current.release();
  });

for (const mode of MODES)
  test(`ranges while the download runs: the middle, and the end (its last byte only once verified) (${mode})`, async () => {
    const data = randomBytes(6 * MiB);
    const toStore = (await begin(mode, data.length))();
    const body = new PassThrough();
    const filled = current.fill(body, 'sha256', hex(data), () => {});
    const middle = await client(false, `?start=${MiB + 7}&end=${3 * MiB}`);
    const tail = await client(false, `?start=${5 * MiB}`);
    await feed(body, data);
    await filled;
    assert.ok((await middle.body).equals(data.subarray(MiB + 7, 3 * MiB)));
    assert.ok((await tail.body).equals(data.subarray(5 * MiB)));
    assert.equal(hex(await toStore), hex(data));
    current.release();
  });

test('over storage: when the write into storage fails, a client behind the ring gets an error, never a gap', async () => {
  const data = randomBytes(16 * MiB);
  const toStore = (await begin('over storage', data.length, 2 * MiB))();
  toStore.catch(() => undefined);
  const body = new PassThrough();
  const filled = current.fill(body, 'sha256', hex(data), () => {});
  filled.catch(() => undefined);
  // Reads nothing until storage has failed: by then its first bytes are neither in the ring nor in storage.
  const slow = await client(true);
  const fed = feed(body, data).catch(() => undefined);
  await assert.rejects(toStore, /no space/);
  assert.ok(current.storageLost);
  slow.res.resume();
  await assert.rejects(slow.body, 'the client saw a complete response');
  body.end();
  await fed;
  await filled.catch(() => undefined);
  current.release();
});
