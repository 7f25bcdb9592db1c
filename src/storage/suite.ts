/**
 * The shared storage driver suite: every driver registers it from its own test file and must pass every test
 * here, or skip one with a written reason. Each test gets a fresh driver, wrapped in `checked()` as production
 * wraps it; afterwards the suite deletes what is left through the driver and calls `cleanup()`, which for a
 * persistent driver verifies that nothing remains on disk.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { checked } from './checked.js';
import { InvalidOffsetError, InvalidPathError, PathNotFoundError, type StorageDriver } from './driver.js';

export interface DriverUnderTest {
  driver: StorageDriver;
  /** Releases the driver's backing store; throws when a test left something behind. */
  cleanup(): Promise<void>;
}

export interface DriverSuiteOptions {
  name: string;
  newDriver: () => Promise<DriverUnderTest>;
  /** Tests this driver does not run, each group with the reason why. Unknown test names are an error. */
  skip?: Array<{ reason: string; tests: string[] }>;
}

interface Ctx {
  /** The driver as production sees it: behind `checked()`. */
  d: StorageDriver;
  /** The driver itself, for tests of the wrapper. */
  raw: StorageDriver;
}

const MiB = 1024 * 1024;

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(parts);
}

async function* chunks(...parts: Buffer[]): AsyncGenerator<Buffer> {
  for (const p of parts) {
    await new Promise((r) => setImmediate(r));
    yield p;
  }
}

async function* failingAfter(parts: Buffer[], error: Error): AsyncGenerator<Buffer> {
  yield* chunks(...parts);
  throw error;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Paths `checked()` must refuse for every method. */
const INVALID_PATHS = [
  '',
  'a',
  'a/b',
  './a',
  '/a/',
  '/a/b/',
  '//a',
  '/a//b',
  '/.',
  '/..',
  '/a/.',
  '/a/..',
  '/a/./b',
  '/a/../b',
  '/../a',
  '/a b',
  '/a\tb',
  '/a\nb',
  '/a\u0000b',
  '/a\\b',
  '/a:b',
  '/a?b',
  '/a*b',
  '/a%2fb',
  '/~a',
  '/é',
  '/a/b\n',
];

export function runDriverSuite(opts: DriverSuiteOptions): void {
  const skipped = new Map<string, string>();
  for (const group of opts.skip ?? []) {
    assert.ok(group.reason.trim() !== '', `${opts.name}: every skip needs a reason`);
    for (const t of group.tests) skipped.set(t, group.reason);
  }
  const defined = new Set<string>();

  describe(`storage driver suite: ${opts.name}`, () => {
    const test = (name: string, fn: (ctx: Ctx) => Promise<void>, timeout = 30_000): void => {
      assert.ok(!defined.has(name), `duplicate test name ${name}`);
      defined.add(name);
      const reason = skipped.get(name);
      it(name, { skip: reason ?? false, timeout }, async () => {
        const { driver, cleanup } = await opts.newDriver();
        const ctx: Ctx = { d: checked(driver), raw: driver };
        let failure: unknown;
        try {
          await fn(ctx);
        } catch (err) {
          failure = err;
        }
        // Leave nothing behind: delete through the driver, then let the harness verify its store is empty.
        try {
          let left: string[] = [];
          try {
            left = await ctx.d.list('/');
          } catch (err) {
            if (!(err instanceof PathNotFoundError)) throw err;
          }
          for (const p of left) await ctx.d.delete(p);
          await cleanup();
          await driver.close?.();
        } catch (err) {
          if (failure === undefined) failure = err;
        }
        if (failure !== undefined) throw failure;
      });
    };

    // getContent / putContent

    test('putContent then getContent returns the same bytes', async ({ d }) => {
      await d.putContent('/a/b/file', Buffer.from('hello'));
      assert.equal((await d.getContent('/a/b/file')).toString(), 'hello');
    });

    test('putContent replaces an existing file', async ({ d }) => {
      await d.putContent('/f', Buffer.from('a much longer first version'));
      await d.putContent('/f', Buffer.from('short'));
      assert.equal((await d.getContent('/f')).toString(), 'short');
      assert.equal((await d.stat('/f')).size, 5);
    });

    test('putContent stores binary content unchanged', async ({ d }) => {
      const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const data = Buffer.concat([every, randomBytes(3 * MiB + 17), every]);
      await d.putContent('/bin/data', data);
      const back = await d.getContent('/bin/data');
      assert.equal(back.length, data.length);
      assert.equal(sha256(back), sha256(data));
    });

    test('putContent stores an empty file', async ({ d }) => {
      await d.putContent('/empty', Buffer.alloc(0));
      assert.equal((await d.getContent('/empty')).length, 0);
      const st = await d.stat('/empty');
      assert.equal(st.size, 0);
      assert.equal(st.isDir, false);
    });

    test('putContent creates parent directories', async ({ d }) => {
      await d.putContent('/x/y/z/file', Buffer.from('1'));
      for (const dir of ['/x', '/x/y', '/x/y/z']) assert.equal((await d.stat(dir)).isDir, true, dir);
    });

    test('putContent keeps its own copy of the data', async ({ d }) => {
      const data = Buffer.from('original');
      await d.putContent('/copy', data);
      data.fill(0x21);
      const back = await d.getContent('/copy');
      assert.equal(back.toString(), 'original');
      back.fill(0x21);
      assert.equal((await d.getContent('/copy')).toString(), 'original');
    });

    test('getContent of a missing file throws PathNotFoundError', async ({ d }) => {
      await assert.rejects(d.getContent('/missing'), PathNotFoundError);
      await d.putContent('/dir/file', Buffer.from('1'));
      await assert.rejects(d.getContent('/dir/other'), PathNotFoundError);
      await assert.rejects(d.getContent('/dir/file/below'), PathNotFoundError);
    });

    test('getContent of a directory throws PathNotFoundError', async ({ d }) => {
      await d.putContent('/dir/file', Buffer.from('1'));
      await assert.rejects(d.getContent('/dir'), PathNotFoundError);
    });

    test('a concurrent getContent sees the old or the new content, never a part', async ({ d }) => {
      const old = Buffer.alloc(2 * MiB, 0x61);
      const next = Buffer.alloc(3 * MiB, 0x62);
      await d.putContent('/atomic', old);
      const reads: Array<Promise<Buffer>> = [];
      const write = d.putContent('/atomic', next);
      for (let i = 0; i < 20; i++) {
        reads.push(d.getContent('/atomic'));
        await new Promise((r) => setImmediate(r));
      }
      await write;
      for (const r of await Promise.all(reads)) {
        assert.ok(r.equals(old) || r.equals(next), `a read saw ${r.length} bytes that are neither version`);
      }
      assert.ok((await d.getContent('/atomic')).equals(next));
    });

    // reader

    const TEN = Buffer.from('0123456789');

    test('reader streams the whole file', async ({ d }) => {
      const data = randomBytes(2 * MiB + 3);
      await d.putContent('/r', data);
      assert.ok((await readAll(await d.reader('/r'))).equals(data));
    });

    test('reader starts at offset', async ({ d }) => {
      await d.putContent('/r', TEN);
      assert.equal((await readAll(await d.reader('/r', 3))).toString(), '3456789');
      assert.equal((await readAll(await d.reader('/r', 0))).toString(), '0123456789');
      assert.equal((await readAll(await d.reader('/r', 9))).toString(), '9');
    });

    test('reader stops before end', async ({ d }) => {
      await d.putContent('/r', TEN);
      assert.equal((await readAll(await d.reader('/r', 2, 5))).toString(), '234');
      assert.equal((await readAll(await d.reader('/r', 0, 1))).toString(), '0');
      assert.equal((await readAll(await d.reader('/r', 4, 4))).toString(), '');
      assert.equal((await readAll(await d.reader('/r', 7, 100))).toString(), '789');
    });

    test('reader at offset == size yields nothing', async ({ d }) => {
      await d.putContent('/r', TEN);
      assert.equal((await readAll(await d.reader('/r', 10))).length, 0);
      await d.putContent('/e', Buffer.alloc(0));
      assert.equal((await readAll(await d.reader('/e'))).length, 0);
      assert.equal((await readAll(await d.reader('/e', 0))).length, 0);
    });

    test('reader past the end throws InvalidOffsetError', async ({ d }) => {
      await d.putContent('/r', TEN);
      await assert.rejects(d.reader('/r', 11), (err: unknown) => {
        assert.ok(err instanceof InvalidOffsetError, String(err));
        assert.equal(err.offset, 11);
        assert.equal(err.path, '/r');
        return true;
      });
      await d.putContent('/e', Buffer.alloc(0));
      await assert.rejects(d.reader('/e', 1), InvalidOffsetError);
    });

    test('reader of a missing file throws PathNotFoundError', async ({ d }) => {
      await assert.rejects(d.reader('/missing'), PathNotFoundError);
      await assert.rejects(d.reader('/missing', 5), PathNotFoundError);
    });

    test('reader of a directory throws PathNotFoundError', async ({ d }) => {
      await d.putContent('/dir/file', TEN);
      await assert.rejects(d.reader('/dir'), PathNotFoundError);
    });

    test('a reader keeps reading the old content while the file is replaced', async ({ d }) => {
      const old = Buffer.alloc(4 * MiB, 0x6f);
      const next = Buffer.alloc(4 * MiB, 0x6e);
      await d.putContent('/replaced', old);
      const stream = await d.reader('/replaced');
      const parts: Buffer[] = [];
      let replaced = false;
      for await (const chunk of stream) {
        parts.push(Buffer.from(chunk as Buffer));
        if (!replaced) {
          replaced = true;
          await d.putContent('/replaced', next);
        }
      }
      assert.ok(replaced);
      assert.ok(Buffer.concat(parts).equals(old), 'the open reader must see the old version whole');
      assert.ok((await d.getContent('/replaced')).equals(next));
    });

    // append

    test('append creates a missing file', async ({ d }) => {
      const size = await d.append('/up/data', chunks(Buffer.from('abc'), Buffer.from('de')));
      assert.equal(size, 5);
      assert.equal((await d.getContent('/up/data')).toString(), 'abcde');
    });

    test('append adds to the end of an existing file', async ({ d }) => {
      await d.putContent('/up/data', Buffer.from('head-'));
      await d.append('/up/data', chunks(Buffer.from('tail')));
      assert.equal((await d.getContent('/up/data')).toString(), 'head-tail');
    });

    test('append returns the new size', async ({ d }) => {
      await d.putContent('/up/data', Buffer.alloc(0));
      assert.equal(await d.append('/up/data', chunks(Buffer.alloc(100), Buffer.alloc(28))), 128);
      assert.equal(await d.append('/up/data', chunks(Buffer.alloc(MiB + 1))), 128 + MiB + 1);
      assert.equal(await d.append('/up/data', chunks()), 128 + MiB + 1, 'an empty source adds nothing');
      assert.equal((await d.stat('/up/data')).size, 128 + MiB + 1);
    });

    test('append of an empty source creates an empty file', async ({ d }) => {
      assert.equal(await d.append('/up/data', chunks()), 0);
      assert.equal((await d.stat('/up/data')).size, 0);
    });

    test('a source that fails halfway leaves the file at its previous size', async ({ d }) => {
      await d.putContent('/up/data', Buffer.from('kept'));
      const boom = new Error('client went away');
      await assert.rejects(d.append('/up/data', failingAfter([Buffer.alloc(MiB, 1), Buffer.alloc(MiB, 2)], boom)), (err) => err === boom);
      assert.equal((await d.stat('/up/data')).size, 4);
      assert.equal((await d.getContent('/up/data')).toString(), 'kept');
      // The file stays usable: a later append continues from the previous size.
      assert.equal(await d.append('/up/data', chunks(Buffer.from('+more'))), 9);
      assert.equal((await d.getContent('/up/data')).toString(), 'kept+more');
    });

    test('a source that fails before yielding leaves the file unchanged', async ({ d }) => {
      await d.putContent('/up/data', Buffer.from('kept'));
      const boom = new Error('no body');
      await assert.rejects(d.append('/up/data', failingAfter([], boom)), (err) => err === boom);
      assert.equal((await d.getContent('/up/data')).toString(), 'kept');
    });

    test('a failed append to a missing file leaves no file', async ({ d }) => {
      const boom = new Error('client went away');
      await assert.rejects(d.append('/up/data', failingAfter([Buffer.alloc(1000, 1)], boom)), (err) => err === boom);
      await assert.rejects(d.stat('/up/data'), PathNotFoundError);
    });

    test('append streams a 64 MiB source', async ({ d }) => {
      const chunk = randomBytes(MiB);
      const expected = createHash('sha256');
      async function* big(): AsyncGenerator<Buffer> {
        for (let i = 0; i < 64; i++) {
          const c = Buffer.from(chunk);
          c.writeUInt32BE(i, 0);
          expected.update(c);
          yield c;
        }
      }
      assert.equal(await d.append('/big/data', big()), 64 * MiB);
      assert.equal((await d.stat('/big/data')).size, 64 * MiB);
      const got = createHash('sha256');
      for await (const c of await d.reader('/big/data')) got.update(c as Buffer);
      assert.equal(got.digest('hex'), expected.digest('hex'));
    }, 120_000);

    test('append does not buffer the source in memory', async ({ d }) => {
      // The same buffer is yielded again and again: a driver that writes through holds at most a few of them,
      // one that collects the source first grows by the whole 64 MiB.
      const chunk = Buffer.alloc(MiB, 0x7a);
      const base = process.memoryUsage().arrayBuffers;
      let peak = 0;
      async function* big(): AsyncGenerator<Buffer> {
        for (let i = 0; i < 64; i++) {
          peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
          yield chunk;
        }
      }
      assert.equal(await d.append('/big/data', big()), 64 * MiB);
      assert.ok(peak < 24 * MiB, `memory grew by ${Math.round(peak / MiB)} MiB while appending 64 MiB`);
    }, 120_000);

    // stat

    test('stat of a file', async ({ d }) => {
      const before = Date.now();
      await d.putContent('/s/file', Buffer.from('12345'));
      const st = await d.stat('/s/file');
      assert.equal(st.path, '/s/file');
      assert.equal(st.size, 5);
      assert.equal(st.isDir, false);
      assert.ok(st.modTime instanceof Date);
      assert.ok(Math.abs(st.modTime.getTime() - before) < 60_000, `modTime ${st.modTime.toISOString()} is not now`);
    });

    test('stat of a directory', async ({ d }) => {
      await d.putContent('/s/sub/file', Buffer.from('12345'));
      const st = await d.stat('/s/sub');
      assert.equal(st.path, '/s/sub');
      assert.equal(st.isDir, true);
      assert.ok(st.modTime instanceof Date);
    });

    test('stat of a missing path throws PathNotFoundError', async ({ d }) => {
      await assert.rejects(d.stat('/missing'), PathNotFoundError);
      await d.putContent('/s/file', Buffer.from('1'));
      await assert.rejects(d.stat('/s/fil'), PathNotFoundError);
      await assert.rejects(d.stat('/s/file/below'), PathNotFoundError);
    });

    // list

    test('list returns the full paths of the direct children', async ({ d }) => {
      await d.putContent('/l/a', Buffer.from('1'));
      await d.putContent('/l/b/c', Buffer.from('2'));
      await d.putContent('/l/b/d/e', Buffer.from('3'));
      await d.putContent('/l2/x', Buffer.from('4'));
      assert.deepEqual((await d.list('/l')).sort(), ['/l/a', '/l/b']);
      assert.deepEqual((await d.list('/l/b')).sort(), ['/l/b/c', '/l/b/d']);
      assert.deepEqual(await d.list('/l/b/d'), ['/l/b/d/e']);
    });

    test('list of the root', async ({ d }) => {
      await d.putContent('/one/file', Buffer.from('1'));
      await d.putContent('/two', Buffer.from('2'));
      assert.deepEqual((await d.list('/')).sort(), ['/one', '/two']);
    });

    test('list of a missing directory throws PathNotFoundError', async ({ d }) => {
      await assert.rejects(d.list('/missing'), PathNotFoundError);
      await d.putContent('/l/a', Buffer.from('1'));
      await assert.rejects(d.list('/l/missing'), PathNotFoundError);
    });

    test('list of a file throws PathNotFoundError', async ({ d }) => {
      await d.putContent('/l/a', Buffer.from('1'));
      await assert.rejects(d.list('/l/a'), PathNotFoundError);
    });

    // move

    test('move renames a file', async ({ d }) => {
      await d.putContent('/m/src', Buffer.from('content'));
      await d.move('/m/src', '/m/dst');
      assert.equal((await d.getContent('/m/dst')).toString(), 'content');
      await assert.rejects(d.stat('/m/src'), PathNotFoundError);
    });

    test('move creates the parent directories of the destination', async ({ d }) => {
      await d.putContent('/m/src', Buffer.from('content'));
      await d.move('/m/src', '/n/deep/er/dst');
      assert.equal((await d.getContent('/n/deep/er/dst')).toString(), 'content');
      assert.equal((await d.stat('/n/deep')).isDir, true);
    });

    test('move replaces an existing destination', async ({ d }) => {
      await d.putContent('/m/src', Buffer.from('new'));
      await d.putContent('/m/dst', Buffer.from('old and longer'));
      await d.move('/m/src', '/m/dst');
      assert.equal((await d.getContent('/m/dst')).toString(), 'new');
      assert.equal((await d.stat('/m/dst')).size, 3);
      await assert.rejects(d.getContent('/m/src'), PathNotFoundError);
    });

    test('move of a missing source throws PathNotFoundError', async ({ d }) => {
      await d.putContent('/m/dst', Buffer.from('untouched'));
      await assert.rejects(d.move('/m/missing', '/m/dst'), PathNotFoundError);
      assert.equal((await d.getContent('/m/dst')).toString(), 'untouched');
      await assert.rejects(d.move('/m/missing', '/m/other'), PathNotFoundError);
      await assert.rejects(d.stat('/m/other'), PathNotFoundError);
    });

    // delete

    test('delete removes a file and nothing else', async ({ d }) => {
      await d.putContent('/del/a', Buffer.from('1'));
      await d.putContent('/del/b', Buffer.from('2'));
      await d.delete('/del/a');
      await assert.rejects(d.stat('/del/a'), PathNotFoundError);
      assert.equal((await d.getContent('/del/b')).toString(), '2');
    });

    test('delete removes a whole tree', async ({ d }) => {
      await d.putContent('/del/tree/a', Buffer.from('1'));
      await d.putContent('/del/tree/b/c', Buffer.from('2'));
      await d.putContent('/del/tree/b/d/e', Buffer.from('3'));
      await d.putContent('/del/treetop', Buffer.from('sibling sharing a prefix'));
      await d.delete('/del/tree');
      for (const p of ['/del/tree', '/del/tree/a', '/del/tree/b', '/del/tree/b/d/e']) await assert.rejects(d.stat(p), PathNotFoundError, p);
      assert.equal((await d.getContent('/del/treetop')).toString(), 'sibling sharing a prefix');
      assert.deepEqual(await d.list('/del'), ['/del/treetop']);
    });

    test('delete of a missing path throws PathNotFoundError', async ({ d }) => {
      await assert.rejects(d.delete('/missing'), PathNotFoundError);
      await d.putContent('/del/a', Buffer.from('1'));
      await assert.rejects(d.delete('/del/b'), PathNotFoundError);
      await d.delete('/del/a');
      await assert.rejects(d.delete('/del/a'), PathNotFoundError, 'a second delete finds nothing');
    });

    // redirectURL

    test('redirectURL is an absolute URL or null', async ({ d }) => {
      await d.putContent('/blob', Buffer.from('1'));
      for (const method of ['GET', 'HEAD'] as const) {
        const url = await d.redirectURL(method, '/blob');
        if (url !== null) assert.ok(/^https?:\/\//.test(url), `not an absolute URL: ${url}`);
      }
    });

    // concurrency

    test('parallel putContent to one path ends with one complete value', async ({ d }) => {
      const values = Array.from({ length: 32 }, (_, i) => Buffer.alloc(256 * 1024 + i, i + 1));
      await Promise.all(values.map((v) => d.putContent('/race/file', v)));
      const got = await d.getContent('/race/file');
      assert.ok(values.some((v) => v.equals(got)), `the file (${got.length} bytes) is none of the written values`);
      assert.deepEqual(await d.list('/race'), ['/race/file'], 'no temporary files are visible');
    });

    test('parallel appends to different files all complete', async ({ d }) => {
      const files = Array.from({ length: 16 }, (_, i) => `/par/f${i}/data`);
      const parts = (i: number) => Array.from({ length: 8 }, (_, j) => Buffer.alloc(64 * 1024, (i * 8 + j) % 256));
      const sizes = await Promise.all(files.map((f, i) => d.append(f, chunks(...parts(i)))));
      assert.deepEqual(sizes, files.map(() => 8 * 64 * 1024));
      for (const [i, f] of files.entries()) assert.ok((await d.getContent(f)).equals(Buffer.concat(parts(i))), f);
    });

    // checked()

    function spy(raw: StorageDriver): { driver: StorageDriver; calls: string[] } {
      const calls: string[] = [];
      const driver = new Proxy(raw, {
        get(target, key) {
          const v = Reflect.get(target, key) as unknown;
          if (typeof v !== 'function' || key === 'close') return v;
          return (...args: unknown[]) => {
            calls.push(String(key));
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      return { driver, calls };
    }

    type Call = (d: StorageDriver, p: string) => Promise<unknown>;
    const CALLS: Record<string, Call> = {
      getContent: (d, p) => d.getContent(p),
      putContent: (d, p) => d.putContent(p, Buffer.from('x')),
      reader: (d, p) => d.reader(p),
      append: (d, p) => d.append(p, chunks(Buffer.from('x'))),
      stat: (d, p) => d.stat(p),
      list: (d, p) => d.list(p),
      'move (source)': (d, p) => d.move(p, '/ok'),
      'move (destination)': (d, p) => d.move('/ok', p),
      delete: (d, p) => d.delete(p),
      redirectURL: (d, p) => d.redirectURL('GET', p),
    };

    /** Calls through `checked()` and returns the rejection; a synchronous throw counts as a failure. */
    async function rejection(call: () => Promise<unknown>): Promise<unknown> {
      let promise: Promise<unknown>;
      try {
        promise = call();
      } catch (err) {
        assert.fail(`threw synchronously instead of rejecting: ${String(err)}`);
      }
      try {
        await promise;
      } catch (err) {
        return err;
      }
      return undefined;
    }

    test('checked() refuses invalid paths before the driver sees them', async ({ raw }) => {
      const { driver, calls } = spy(raw);
      const d = checked(driver);
      for (const p of INVALID_PATHS) {
        for (const [method, call] of Object.entries(CALLS)) {
          const err = await rejection(() => call(d, p));
          assert.ok(err instanceof InvalidPathError, `${method}(${JSON.stringify(p)}) gave ${String(err)}`);
          assert.equal(err.path, p);
        }
      }
      assert.deepEqual(calls, []);
    });

    test('checked() refuses delete of the root', async ({ raw }) => {
      const { driver, calls } = spy(raw);
      await raw.putContent('/keep', Buffer.from('1'));
      const err = await rejection(() => checked(driver).delete('/'));
      assert.ok(err instanceof InvalidPathError, String(err));
      assert.deepEqual(calls, []);
      assert.equal((await raw.getContent('/keep')).toString(), '1');
    });

    test('checked() allows the root only where Distribution does: list and stat', async ({ raw }) => {
      const { driver, calls } = spy(raw);
      const d = checked(driver);
      await raw.putContent('/keep', Buffer.from('1'));
      for (const method of ['getContent', 'putContent', 'reader', 'append', 'move (source)', 'move (destination)', 'redirectURL']) {
        const err = await rejection(() => CALLS[method](d, '/'));
        assert.ok(err instanceof InvalidPathError, `${method}('/') gave ${String(err)}`);
      }
      assert.deepEqual(calls, []);
      assert.deepEqual(await d.list('/'), ['/keep']);
      assert.equal((await d.stat('/')).isDir, true);
    });

    test('checked() passes valid paths through unchanged', async ({ raw }) => {
      const { driver, calls } = spy(raw);
      const d = checked(driver);
      const p = '/docker/registry/v2/repositories/a-b_c.d/_manifests/tags/V1.0_rc-1/current/link';
      await d.putContent(p, Buffer.from('sha256:abc'));
      assert.equal((await d.getContent(p)).toString(), 'sha256:abc');
      await d.putContent('/...', Buffer.from('dots'));
      assert.equal((await d.getContent('/...')).toString(), 'dots', 'a component of three dots is a name');
      assert.deepEqual(calls, ['putContent', 'getContent', 'putContent', 'getContent']);
    });

    if (opts.skip) {
      for (const name of skipped.keys()) assert.ok(defined.has(name), `${opts.name}: skip names an unknown test: ${name}`);
    }
  });
}
