/**
 * Memory stays bounded (issue 12): 10,000 upload sessions opened, written to and abandoned, then purged, leave no
 * per-session state behind and the heap within a few MiB of where it started. Runs in a child process with
 * --expose-gc so that the heap can be measured after a full collection.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SESSIONS = 10_000;

/** The child's script: prints `{ states, afterPurge, baseline, peak }` as JSON. */
const script = (dir: string) => `
import { checked } from '${dir}/../storage/checked.js';
import { InMemoryDriver } from '${dir}/../storage/inmemory.js';
import { purgeUploads } from '${dir}/purge.js';
import { Registry } from '${dir}/registry.js';
import pino from 'pino';
const driver = checked(new InMemoryDriver());
const registry = new Registry(driver, { deleteEnabled: true, readOnly: false, redirect: false, validation: { disabled: false, urls: { allow: [], deny: [] }, indexes: { platforms: 'all', platformlist: [] } } });
const heap = () => { globalThis.gc(); globalThis.gc(); return process.memoryUsage().heapUsed; };
async function* body(i) { yield Buffer.from('abandoned chunk ' + i); }
// Warm up the code paths (and their caches) once, so that the baseline is not the first use.
for (let i = 0; i < 200; i++) { const s = await registry.uploads.start('mem/warm'); await registry.uploads.append('mem/warm', s.uuid, body(i)); }
await purgeUploads(driver, { olderThan: new Date(Date.now() + 60_000), dryRun: false, onPurged: (u) => registry.uploads.forget?.(u) }, pino({ level: 'silent' }));
const baseline = heap();
for (let i = 0; i < ${SESSIONS}; i++) {
  const s = await registry.uploads.start('mem/repo' + (i % 10));
  await registry.uploads.append('mem/repo' + (i % 10), s.uuid, body(i));
}
const peak = heap();
const count = () => registry.uploads.hashStates ?? registry.uploads.hashes.size;
const held = count();
const r = await purgeUploads(driver, { olderThan: new Date(Date.now() + 60_000), dryRun: false, onPurged: (u) => registry.uploads.forget?.(u) }, pino({ level: 'silent' }));
const afterPurge = heap();
console.log(JSON.stringify({ held, states: count(), purged: r.purged.length, baseline, peak, afterPurge }));
`;

test(`${SESSIONS} abandoned upload sessions, purged, leave no state and no heap growth`, (t) => {
  // WHARF_UNIT_DIR: the compiled src/registry of another build, to see this test fail without the fix.
  const dir = process.env.WHARF_UNIT_DIR ?? fileURLToPath(new URL('.', import.meta.url)).replace(/\/$/, '');
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script(dir)], {
    encoding: 'utf8',
    cwd: dir,
  });
  const m = JSON.parse(out.trim().split('\n').pop()!) as {
    held: number;
    states: number;
    purged: number;
    baseline: number;
    peak: number;
    afterPurge: number;
  };
  t.diagnostic(
    `hash states while open ${m.held}, after purge ${m.states}; heap MiB: baseline ${(m.baseline / 2 ** 20).toFixed(1)}, peak ${(m.peak / 2 ** 20).toFixed(1)}, after purge ${(m.afterPurge / 2 ** 20).toFixed(1)}`,
  );
  assert.equal(m.purged, SESSIONS);
  assert.ok(m.held > 0 && m.held <= SESSIONS, `hash states held while open: ${m.held}`);
  assert.equal(m.states, 0, 'hash states left after purging');
  const growth = (m.afterPurge - m.baseline) / 2 ** 20;
  assert.ok(
    growth < 3,
    `heap grew ${growth.toFixed(2)} MiB after purging (peak +${((m.peak - m.baseline) / 2 ** 20).toFixed(2)} MiB)`,
  );
});
