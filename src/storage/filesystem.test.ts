import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checked } from './checked.js';
import { FilesystemDriver } from './filesystem.js';
import { runDriverSuite } from './suite.js';

const roots = new Set<string>();

runDriverSuite({
  name: 'filesystem',
  newDriver: async () => {
    const root = await mkdtemp(join(tmpdir(), 'wharf-fs-suite-'));
    roots.add(root);
    return {
      driver: new FilesystemDriver({ rootdirectory: root }),
      cleanup: async () => {
        // The suite has deleted every top-level entry through the driver; whatever is still on disk (a temporary
        // file hidden from list(), say) was left behind.
        const left = await readdir(root, { recursive: true });
        await rm(root, { recursive: true, force: true });
        roots.delete(root);
        assert.deepEqual(left, [], `test left files behind in the driver root`);
      },
    };
  },
});

after(() => {
  const leaked = [...roots].filter((r) => existsSync(r));
  for (const r of leaked) void rm(r, { recursive: true, force: true });
  assert.deepEqual(leaked, [], 'driver roots left on disk');
});

test('sweepTemporary finds the temporary files of unfinished writes older than the cutoff; a dry run keeps them', async () => {
  const root = await mkdtemp(join(tmpdir(), 'wharf-fs-sweep-'));
  roots.add(root);
  const d = checked(new FilesystemDriver({ rootdirectory: root }));
  await d.putContent('/a/b/link', Buffer.from('kept'));
  const old = new Date(Date.now() - 3_600_000);
  const plant = async (rel: string, mtime?: Date) => {
    await writeFile(join(root, rel), 'x');
    if (mtime) await utimes(join(root, rel), mtime, mtime);
  };
  await plant('a/b/link.tmp-0123456789ab', old);
  await plant('a/data.tmp-aaaaaaaaaaaa', old);
  await plant('a/b/link.tmp-bbbbbbbbbbbb'); // just written: a write may be under way
  await plant('a/b/notes.tmp-xyz', old); // not a name the driver writes
  const cutoff = new Date(Date.now() - 60_000);

  assert.deepEqual(await d.sweepTemporary!(cutoff, true), ['/a/b/link.tmp-0123456789ab', '/a/data.tmp-aaaaaaaaaaaa']);
  assert.ok(existsSync(join(root, 'a/b/link.tmp-0123456789ab')), 'a dry run removes nothing');
  assert.deepEqual(await d.sweepTemporary!(cutoff, false), ['/a/b/link.tmp-0123456789ab', '/a/data.tmp-aaaaaaaaaaaa']);
  assert.deepEqual((await readdir(join(root, 'a/b'))).sort(), ['link', 'link.tmp-bbbbbbbbbbbb', 'notes.tmp-xyz']);
  assert.deepEqual(await d.sweepTemporary!(cutoff, false), []);
  assert.equal((await d.getContent('/a/b/link')).toString(), 'kept');
  await rm(root, { recursive: true, force: true });
  roots.delete(root);
});
