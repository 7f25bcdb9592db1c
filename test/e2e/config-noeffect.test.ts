/**
 * Keys that parse but change nothing (Distribution's, so its configs start) are named once each: in the start
 * log of `wharf serve`, and by `wharf config check`. The h2c warning (a feature not served) comes once too.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { MAIN, startWharf, testConfig } from './harness.js';

const CONFIG = testConfig({
  log: '  level: info\n  accesslog:\n    disabled: true\n  reportcaller: true\n',
  storage: '  delete:\n    enabled: true\n  tag:\n    concurrencylimit: 8\n',
  http: '  h2c:\n    enabled: true\n',
}).replace('    rootdirectory: {{data}}\n', '    rootdirectory: {{data}}\n    maxthreads: 100\n');

const KEYS = ['storage.filesystem.maxthreads', 'storage.tag.concurrencylimit', 'log.reportcaller', 'http.h2c'];

function count(text: string, key: string): number {
  return text.split('\n').filter((l) => l.includes(key)).length;
}

test('wharf serve warns once about each key without effect, and still serves', async () => {
  const w = await startWharf({ config: CONFIG });
  try {
    assert.equal((await fetch(`${w.url}/v2/`)).status, 200);
    for (const key of KEYS) assert.equal(count(w.output(), key), 1, `${key} in:\n${w.output()}`);
  } finally {
    await w.cleanup();
  }
});

test('wharf config check lists the same keys', async () => {
  // startWharf writes the config file; config check reads it from there.
  const w = await startWharf({ config: CONFIG, waitReady: false, args: ['--version'] });
  try {
    const check = spawnSync(process.execPath, [MAIN, 'config', 'check', join(w.dir, 'config.yml')], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    assert.equal(check.status, 0, check.stderr);
    const out = check.stdout + check.stderr;
    for (const key of KEYS) assert.equal(count(out, key), 1, `${key} in:\n${out}`);
  } finally {
    await w.cleanup();
  }
});
