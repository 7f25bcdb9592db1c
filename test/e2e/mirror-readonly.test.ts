/**
 * A mirror in read-only mode (`storage.maintenance.readonly.enabled`, e.g. while storage is migrated or collected)
 * writes nothing: cached images are served from the cache, images never cached are passed through from the
 * upstream (streamed and verified, as ever) without being stored, and pushes are refused.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertError, call } from './api.js';
import { startWharf, testConfig, type Wharf } from './harness.js';
import { eventually } from './ops.js';
import { countingProxy, getManifest, pushImage, sha256, startMirror, type CountingProxy } from './mirror-helpers.js';

/** Every file under `dir`, relative to it. */
function files(dir: string): string[] {
  return existsSync(dir)
    ? (readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath ?? e.path, e.name).slice(dir.length))
        .sort() as string[])
    : [];
}

describe('pull-through cache in read-only mode', () => {
  let up: Wharf;
  let counter: CountingProxy;
  let mirror: Wharf;
  let cached: Awaited<ReturnType<typeof pushImage>>;
  let fresh: Awaited<ReturnType<typeof pushImage>>;
  const proxy = () => `proxy:\n  remoteurl: ${counter.url}\n  ttl: 1h\n`;

  before(async () => {
    up = await startWharf();
    cached = await pushImage(up.url, 'team/cached', 'v1', Buffer.from('a cached layer '.repeat(1000)), 'cached');
    fresh = await pushImage(up.url, 'team/fresh', 'v1', Buffer.from('a layer never cached '.repeat(50_000)), 'fresh');
    counter = await countingProxy(up.url);
    // Cached by a writable mirror, then served by a read-only one on the same data.
    const writable = await startMirror(proxy());
    assert.equal((await getManifest(writable.url, 'team/cached', 'v1')).digest, cached.manifest);
    assert.equal(sha256((await call(writable.url, `/v2/team/cached/blobs/${cached.layer}`)).body), cached.layer);
    // Stored after the response ended: wait for the commit before stopping it.
    const hex = cached.layer.slice('sha256:'.length);
    assert.ok(
      await eventually(() =>
        existsSync(join(writable.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data')),
      ),
      'the layer was never stored',
    );
    await writable.stop();
    mirror = await startWharf({
      dir: writable.dir,
      config: testConfig({ storage: '  maintenance:\n    readonly:\n      enabled: true\n', extra: proxy() }),
    });
  });

  after(async () => {
    await mirror?.cleanup();
    await counter?.close();
    await up?.cleanup();
  });

  test('cached content is served from the cache', async () => {
    const before = counter.requests.length;
    assert.equal((await getManifest(mirror.url, 'team/cached', 'v1')).digest, cached.manifest);
    assert.equal(sha256((await call(mirror.url, `/v2/team/cached/blobs/${cached.layer}`)).body), cached.layer);
    assert.equal(counter.requests.length, before, `asked the upstream: ${counter.requests.slice(before).join(', ')}`);
  });

  test('content never cached is passed through, verified, and nothing is stored', async () => {
    const stored = files(mirror.dataDir);
    for (let i = 1; i <= 2; i++) {
      const m = await getManifest(mirror.url, 'team/fresh', 'v1');
      assert.equal(m.status, 200);
      assert.equal(m.digest, fresh.manifest);
      assert.equal(sha256(m.body), fresh.manifest);
      const blob = await call(mirror.url, `/v2/team/fresh/blobs/${fresh.layer}`);
      assert.equal(blob.status, 200);
      assert.equal(sha256(blob.body), fresh.layer);
      // Not kept: the second pull fetches it again.
      assert.equal(counter.count(new RegExp(`^GET /v2/team/fresh/blobs/${fresh.layer}$`)), i);
    }
    assert.deepEqual(files(mirror.dataDir), stored, 'read-only mode wrote into storage');
    assert.deepEqual(JSON.parse((await call(mirror.url, '/v2/_catalog')).text).repositories, ['team/cached']);
  });

  test('pushes are refused', async () => {
    assertError(await call(mirror.url, '/v2/team/fresh/blobs/uploads/', { method: 'POST' }), 405, 'UNSUPPORTED');
  });
});
