import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDigest } from '../oci/names.js';
import { checked } from '../storage/checked.js';
import type { StorageDriver } from '../storage/driver.js';
import { FilesystemDriver } from '../storage/filesystem.js';
import { InMemoryDriver } from '../storage/inmemory.js';
import { uploadData, uploadStartedAt } from './paths.js';
import { Registry } from './registry.js';

/** The driver under each test registry (Registry keeps its own private). */
const drivers = new WeakMap<Registry, StorageDriver>();
const driverOf = (reg: Registry): StorageDriver => drivers.get(reg)!;

function newRegistry(driver: StorageDriver = new InMemoryDriver()): Registry {
  const inner = checked(driver);
  const reg = new Registry(inner, {
    deleteEnabled: true,
    readOnly: false,
    redirect: false,
    validation: { disabled: false, urls: { allow: [], deny: [] }, indexes: { platforms: 'all', platformlist: [] } },
  });
  drivers.set(reg, inner);
  return reg;
}

/** A body that yields `first`, then waits for `go()` before yielding `rest` (or failing when `rest` is an Error). */
function gatedBody(first: Buffer, rest: Buffer | Error) {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  async function* body(): AsyncGenerator<Buffer> {
    yield first;
    started();
    await gate;
    if (rest instanceof Error) throw rest;
    yield rest;
  }
  return { body: body(), running, go: () => open() };
}

/** Waits (up to 5 s) until the first part of a gated body is on disk. */
async function fileReaches(reg: Registry, path: string, size: number): Promise<void> {
  for (const deadline = Date.now() + 5000; (await driverOf(reg).stat(path)).size !== size;) {
    if (Date.now() > deadline) throw new Error(`${path} never reached ${size} bytes`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a session is its startedat file; data appears with the first byte', async () => {
  const reg = newRegistry();
  const { uuid } = await reg.uploads.start('a/b');
  await driverOf(reg).stat(uploadStartedAt('a/b', uuid));
  await assert.rejects(driverOf(reg).stat(uploadData('a/b', uuid)));
  assert.equal((await reg.uploads.status('a/b', uuid)).offset, 0);
  await reg.uploads.append(
    'a/b',
    uuid,
    (async function* () {
      yield Buffer.from('abc');
    })(),
  );
  assert.equal((await driverOf(reg).stat(uploadData('a/b', uuid))).size, 3);
});

test('an empty blob completes without any data written', async () => {
  const reg = newRegistry();
  const { uuid } = await reg.uploads.start('a/b');
  const empty = parseDigest(`sha256:${createHash('sha256').digest('hex')}`)!;
  assert.deepEqual(await reg.uploads.complete('a/b', uuid, empty, null), { size: 0 });
  assert.equal(await reg.blobs.globalSize(empty, true), 0);
  assert.equal(await reg.blobs.isLinked('a/b', empty, true), true);
});

test('while a chunk is being written, the status is the size before it; after a failure, still that size', async (t) => {
  // On disk, where a write in progress is visible in the file's size.
  const root = await mkdtemp(join(tmpdir(), 'wharf-uploads-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const reg = newRegistry(new FilesystemDriver({ rootdirectory: root }));
  const { uuid } = await reg.uploads.start('a/b');
  await reg.uploads.append(
    'a/b',
    uuid,
    (async function* () {
      yield Buffer.from('12345');
    })(),
  );

  const ok = gatedBody(Buffer.from('678'), Buffer.from('90'));
  const writing = reg.uploads.append('a/b', uuid, ok.body);
  await ok.running;
  await fileReaches(reg, uploadData('a/b', uuid), 8);
  assert.equal((await reg.uploads.status('a/b', uuid)).offset, 5, 'a write in progress is not visible');
  ok.go();
  assert.equal((await writing).offset, 10);
  assert.equal((await reg.uploads.status('a/b', uuid)).offset, 10);

  const broken = gatedBody(Buffer.from('xyz'), new Error('client went away'));
  const failing = reg.uploads.append('a/b', uuid, broken.body);
  await broken.running;
  await fileReaches(reg, uploadData('a/b', uuid), 13);
  assert.equal((await reg.uploads.status('a/b', uuid)).offset, 10);
  broken.go();
  await assert.rejects(failing, /client went away/);
  assert.equal((await reg.uploads.status('a/b', uuid)).offset, 10);
  assert.equal((await driverOf(reg).getContent(uploadData('a/b', uuid))).toString(), '1234567890');
});

test('an ingest session: its file is readable while written, from another process by name and id, never by a path outside it', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'wharf-uploads-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const reg = newRegistry(new FilesystemDriver({ rootdirectory: root }));
  const data = Buffer.from('the blob');
  const d = parseDigest(`sha256:${createHash('sha256').update(data).digest('hex')}`)!;
  const ingest = await reg.upkeep.uploads.beginIngest('a/b');
  assert.ok(ingest.tail, 'the filesystem driver reads the session file in place');
  // What another replica opens from the board entry: the same file, empty until written.
  const other = await reg.upkeep.uploads.openIngest('a/b', ingest.uuid);
  assert.ok(other);
  const buf = Buffer.alloc(64);
  assert.equal(await other.read(buf, 64, 0), 0);
  await ingest.write(
    d,
    (async function* () {
      yield data;
    })(),
    Promise.resolve(),
  );
  // Committed (the file moved into the blob store): both descriptors still read it.
  assert.equal(await reg.blobs.globalSize(d, true), data.length);
  assert.equal(await other.read(buf, 64, 0), data.length);
  assert.equal(buf.subarray(0, data.length).toString(), 'the blob');
  await other.close();
  await ingest.tail.close();
  // Names and ids from Redis are checked before they become a path.
  assert.equal(await reg.upkeep.uploads.openIngest('../../etc', ingest.uuid), null);
  assert.equal(await reg.upkeep.uploads.openIngest('a/b', '../../passwd'), null);
  assert.equal(await reg.upkeep.uploads.openIngest('a/b', ingest.uuid), null, 'the session is gone after the commit');
  assert.equal(await newRegistry().upkeep.uploads.openIngest('a/b', ingest.uuid), null, 'in-memory storage: none');
});
