/** The shared driver suite: getContent, putContent and reader. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { InvalidOffsetError, PathNotFoundError } from '../driver.js';
import { readAll, sha256, MiB, type DefineTest } from './kit.js';

export function contentTests(test: DefineTest): void {
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
}
