/**
 * The spool under the readers that matter, over real HTTP on loopback: a client that stops reading, a client that
 * leaves, a lying body, and a write into storage that stalls. Each download is fed from a PassThrough playing the
 * upstream's body.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
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

/** Drains the store reader into a buffer (what storage would receive). */
async function store(r: ReturnType<Spool['storeReader']>): Promise<Buffer> {
  const parts: Buffer[] = [];
  try {
    for await (const c of r.chunks) parts.push(c);
  } finally {
    r.close();
  }
  return Buffer.concat(parts);
}

test('a client that stops reading neither holds back the download nor another client; it gets every byte later', async () => {
  const data = randomBytes(24 * MiB);
  current = await Spool.create(data.length);
  const toStore = store(current.storeReader());
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

test('a client that leaves mid-pull stops nothing: the download and the write into storage complete', async () => {
  const data = randomBytes(8 * MiB);
  current = await Spool.create(data.length);
  const toStore = store(current.storeReader());
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

test('wrong bytes or a short body: the download fails, no client gets the whole length, storage gets an error', async () => {
  for (const lie of ['wrong', 'short'] as const) {
    const data = randomBytes(3 * MiB);
    current = await Spool.create(data.length);
    const toStore = store(current.storeReader());
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

test('a write into storage that stalls paces the download (memory stays bounded), then gets every byte', async () => {
  const data = randomBytes(32 * MiB);
  current = await Spool.create(data.length);
  const reader = current.storeReader();
  const body = new PassThrough();
  let most = 0;
  const filled = current.fill(body, 'sha256', hex(data), () => (most = Math.max(most, current.written)));
  const fed = feed(body, data);
  // Storage reads nothing for a while: the download may run ahead by 8 MiB (plus what is in flight), no more.
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(most <= 9 * MiB, `the download ran ${most} bytes ahead of storage`);
  const stored = await store(reader);
  await fed;
  await filled;
  assert.equal(hex(stored), hex(data));
  current.release();
});

test('ranges while the download runs: the middle, and the end (its last byte only once verified)', async () => {
  const data = randomBytes(6 * MiB);
  current = await Spool.create(data.length);
  const toStore = store(current.storeReader());
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
