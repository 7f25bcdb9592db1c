/** The shared driver suite: append (streamed, all or nothing). */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { PathNotFoundError } from '../driver.js';
import { chunks, failingAfter, MiB, type DefineTest } from './kit.js';

export function appendTests(test: DefineTest): void {
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
    await assert.rejects(
      d.append('/up/data', failingAfter([Buffer.alloc(MiB, 1), Buffer.alloc(MiB, 2)], boom)),
      (err) => err === boom,
    );
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
}
