/** The shared driver suite: stat, list, move, delete, redirectURL and concurrency. */
import assert from 'node:assert/strict';
import { PathNotFoundError } from '../driver.js';
import { chunks, type DefineTest } from './kit.js';

export function treeTests(test: DefineTest): void {
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
    for (const p of ['/del/tree', '/del/tree/a', '/del/tree/b', '/del/tree/b/d/e'])
      await assert.rejects(d.stat(p), PathNotFoundError, p);
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
    assert.ok(
      values.some((v) => v.equals(got)),
      `the file (${got.length} bytes) is none of the written values`,
    );
    assert.deepEqual(await d.list('/race'), ['/race/file'], 'no temporary files are visible');
  });

  test('parallel appends to different files all complete', async ({ d }) => {
    const files = Array.from({ length: 16 }, (_, i) => `/par/f${i}/data`);
    const parts = (i: number) => Array.from({ length: 8 }, (_, j) => Buffer.alloc(64 * 1024, (i * 8 + j) % 256));
    const sizes = await Promise.all(files.map((f, i) => d.append(f, chunks(...parts(i)))));
    assert.deepEqual(
      sizes,
      files.map(() => 8 * 64 * 1024),
    );
    for (const [i, f] of files.entries()) assert.ok((await d.getContent(f)).equals(Buffer.concat(parts(i))), f);
  });
}
