/**
 * Expiry of cached content through the safe GC: two prefixes cache the same upstream (another wharf), `short/*`
 * with a one-second ttl, `long/*` with an hour. The same image cached under both shares its layer: when `short`
 * expires, its tag and manifest go, the repository leaves the catalog, and the shared layer stays (`long` still
 * serves it without asking the upstream). Pulling `short` again fetches it anew.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call } from './api.js';
import { startWharf, type Wharf } from './harness.js';
import { countingProxy, getManifest, pushImage, sha256, startMirror, type CountingProxy } from './mirror-helpers.js';
import { eventually } from './ops.js';

describe('pull-through cache expiry', () => {
  let up: Wharf;
  let counter: CountingProxy;
  let deadEnd: CountingProxy;
  let mirror: Wharf;
  let img: Awaited<ReturnType<typeof pushImage>>;

  before(async () => {
    up = await startWharf();
    counter = await countingProxy(up.url);
    deadEnd = await countingProxy(up.url);
    img = await pushImage(up.url, 'team/app', 'v1', Buffer.from('a layer both caches share '.repeat(500)), 'shared');
    mirror = await startMirror(
      `proxy:\n  upstreams:\n    - { prefix: short, remoteurl: ${counter.url}, ttl: 1s }\n    - { prefix: long, remoteurl: ${counter.url}, ttl: 1h }\n    - { prefix: gone, remoteurl: ${deadEnd.url}, ttl: 1s }\ngc:\n  graceperiod: 0s\n`,
      { logLevel: 'info' },
    );
  });

  after(async () => {
    await mirror?.cleanup();
    await counter?.close();
    await deadEnd?.close();
    await up?.cleanup();
  });

  const catalog = async () =>
    (JSON.parse((await call(mirror.url, '/v2/_catalog')).text) as { repositories: string[] }).repositories;

  test('an expired image is removed, the layer another image references is kept', async () => {
    for (const p of ['gone', 'short', 'long']) {
      assert.equal((await getManifest(mirror.url, `${p}/team/app`, 'v1')).digest, img.manifest);
      assert.equal(sha256((await call(mirror.url, `/v2/${p}/team/app/blobs/${img.layer}`)).body), img.layer);
      if (p === 'gone') {
        // `gone`'s upstream dies (a failed request tells the mirror): its content must outlive its ttl meanwhile.
        deadEnd.mode = 'down';
        assert.equal((await call(mirror.url, '/v2/gone/team/app/manifests/other')).status, 503);
      }
    }
    assert.deepEqual(
      (await catalog()).filter((r) => r !== 'short/team/app'),
      ['gone/team/app', 'long/team/app'],
    );
    assert.ok(
      await eventually(async () => !(await catalog()).includes('short/team/app'), 30_000),
      `short never expired:\n${mirror.output()}`,
    );
    assert.deepEqual(await catalog(), ['gone/team/app', 'long/team/app']);
    assert.equal(
      (await getManifest(mirror.url, 'gone/team/app', 'v1')).digest,
      img.manifest,
      'the cached copy of a dead upstream was expired',
    );
    assert.match(mirror.output(), /expired cached content removed/);

    const fetched = counter.count(/\/blobs\//);
    const blob = await call(mirror.url, `/v2/long/team/app/blobs/${img.layer}`);
    assert.equal(sha256(blob.body), img.layer);
    assert.equal(counter.count(/\/blobs\//), fetched, 'the shared layer was deleted and fetched again');
  });

  test('pulling the expired image again fetches it from the upstream', async () => {
    const before = counter.count(/^GET \/v2\/team\/app\/manifests\/v1$/);
    assert.equal((await getManifest(mirror.url, 'short/team/app', 'v1')).digest, img.manifest);
    assert.equal(counter.count(/^GET \/v2\/team\/app\/manifests\/v1$/), before + 1);
  });
});
