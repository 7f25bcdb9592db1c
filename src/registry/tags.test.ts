import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDigest } from '../oci/names.js';
import { InMemoryDriver } from '../storage/inmemory.js';
import { tagCurrentLink } from './paths.js';
import { UNGUARDED } from './guard.js';
import { Registry } from './registry.js';
import { TagCache, TagStore } from './tags.js';

const A = parseDigest(`sha256:${'a'.repeat(64)}`)!;
const B = parseDigest(`sha256:${'b'.repeat(64)}`)!;

// The in-memory driver gives no version (as S3's): what is cached is re-read, not stat-confirmed, after the window.
test('tag cache: a pull trusts a lookup for the window, then storage again; get() always asks storage', async () => {
  const driver = new InMemoryDriver();
  let now = 1000;
  const tags = new TagStore(driver, UNGUARDED, new TagCache({ trustMs: 500, now: () => now }));
  await tags.tag('r', 't', A);
  assert.equal((await tags.forPull('r', 't')).value, A.value);
  // Another process rewrites the link behind this one's back.
  await driver.putContent(tagCurrentLink('r', 't'), Buffer.from(B.value));
  assert.equal((await tags.get('r', 't')).value, B.value, 'a write path reads storage');
  await driver.putContent(tagCurrentLink('r', 't'), Buffer.from(A.value));
  now += 600;
  assert.equal((await tags.forPull('r', 't')).value, A.value);
  await driver.putContent(tagCurrentLink('r', 't'), Buffer.from(B.value));
  now += 400;
  assert.equal((await tags.forPull('r', 't')).value, A.value, 'within the window: the cached answer');
  now += 101;
  assert.equal((await tags.forPull('r', 't')).value, B.value, 'past the window: storage');
});

test('tag cache: a lookup in flight while this process moves the tag does not cache what it read before', async () => {
  const inner = new InMemoryDriver();
  let gate: Promise<void> | null = null;
  // The same driver, with reads of the link held until the test lets them go.
  const driver = Object.assign(Object.create(inner) as InMemoryDriver, {
    getContent: async (p: string) => {
      const content = await inner.getContent(p);
      if (gate) await gate;
      return content;
    },
  });
  const tags = new TagStore(driver, UNGUARDED, new TagCache({ trustMs: 3_600_000 }));
  await tags.tag('r', 't', A);
  let release!: () => void;
  gate = new Promise((r) => (release = r));
  const inFlight = tags.forPull('r', 't'); // reads A, then waits
  await new Promise((r) => setImmediate(r));
  gate = null;
  await tags.tag('r', 't', B);
  release();
  assert.equal((await inFlight).value, A.value, 'it started before the push: either answer would do');
  assert.equal((await tags.forPull('r', 't')).value, B.value, 'the push is seen by the next pull');
});

test('tag cache: changes are published, and changes heard from others drop the cached lookup', async () => {
  const driver = new InMemoryDriver();
  const published: string[] = [];
  let hear: (name: string, tag: string) => void = () => {};
  const tags = new TagStore(
    driver,
    UNGUARDED,
    new TagCache({
      trustMs: 3_600_000,
      changes: { publish: (n, t) => published.push(`${n}:${t}`), subscribe: (fn) => (hear = fn) },
    }),
  );
  await tags.tag('r', 't', A);
  assert.equal((await tags.forPull('r', 't')).value, A.value);
  await driver.putContent(tagCurrentLink('r', 't'), Buffer.from(B.value));
  assert.equal((await tags.forPull('r', 't')).value, A.value);
  hear('r', 't');
  assert.equal((await tags.forPull('r', 't')).value, B.value);
  await tags.untag('r', 't');
  assert.deepEqual(published, ['r:t', 'r:t']);
  await assert.rejects(tags.forPull('r', 't'), { code: 'MANIFEST_UNKNOWN' });
});

test('tag cache: a tag the upkeep stores move (mirror, cleanup) is seen by the next pull of the same registry', async () => {
  const registry = new Registry(new InMemoryDriver(), {
    deleteEnabled: false,
    readOnly: false,
    redirect: false,
    tagTrustMs: 3_600_000,
    validation: { disabled: true, urls: { allow: [], deny: [] }, indexes: { platforms: 'all', platformlist: [] } },
  });
  await registry.upkeep.tags.tag('r', 't', A);
  assert.equal((await registry.tags.forPull('r', 't')).value, A.value);
  await registry.upkeep.tags.tag('r', 't', B);
  assert.equal((await registry.tags.forPull('r', 't')).value, B.value);
  await registry.upkeep.tags.untag('r', 't');
  await assert.rejects(registry.tags.forPull('r', 't'), { code: 'MANIFEST_UNKNOWN' });
});
