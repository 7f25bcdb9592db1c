import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
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
