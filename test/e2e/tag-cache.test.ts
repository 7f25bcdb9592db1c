/**
 * The tag cache behind manifest GET by tag (`storage.cache.tagttl`, src/registry/tags.ts): a pull may answer
 * from a lookup storage confirmed less than the trust window ago. These check the three promises that come with
 * it: this process's own pushes and deletes are served by the very next GET whatever the window; a tag moved by
 * another replica, or by rewriting its link file in storage, is served once the window has passed; with Redis,
 * another replica's push reaches this one long before a (here one-hour) window would.
 */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeImage, OCI_MANIFEST, pushManifest, sha256, startWharf, testConfig, type Wharf } from './harness.js';
import { REDIS_MISSING, REDIS_SERVER, startRedis, type RedisServer } from './redisserver.js';

/** The digest GET by tag answers, or its status when it is not a 200. */
async function served(w: Wharf, name: string, tag: string): Promise<string | number> {
  const r = await fetch(`${w.url}/v2/${name}/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
  const body = Buffer.from(await r.arrayBuffer());
  if (r.status !== 200) return r.status;
  assert.equal(r.headers.get('docker-content-digest'), sha256(body));
  return sha256(body);
}

/** Pushes a new image under `ref` (a tag, or its digest when ref is omitted) and returns its manifest digest. */
async function pushImage(w: Wharf, name: string, seed: string, tag?: string): Promise<string> {
  const { manifest } = await makeImage(w.url, name, seed);
  const digest = sha256(JSON.stringify(manifest));
  const r = await pushManifest(w.url, name, tag ?? digest, manifest, OCI_MANIFEST);
  await r.arrayBuffer();
  assert.equal(r.status, 201);
  return digest;
}

/** Asks until `w` serves `want` for the tag; fails after `limitMs` (far above the bound under test). */
async function servedEventually(
  w: Wharf,
  name: string,
  tag: string,
  want: string | number,
  limitMs: number,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  let last: string | number = '';
  while (Date.now() < deadline) {
    last = await served(w, name, tag);
    if (last === want) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`still served ${last} instead of ${want} after ${limitMs} ms`);
}

const config = (ttl: string, extra = '') =>
  testConfig({ storage: `  delete:\n    enabled: true\n  cache:\n    tagttl: ${ttl}\n`, extra });

describe('tag cache: this process', () => {
  let w: Wharf;
  before(async () => {
    // A window of an hour: only the invalidation on push and delete can make the next GET right.
    w = await startWharf({ config: config('1h') });
  });
  after(async () => w?.cleanup());

  it('serves a tag this process moved with the very next GET, and 404 right after its delete', async () => {
    const first = await pushImage(w, 'own/app', 'one', 'latest');
    for (let i = 0; i < 3; i++) assert.equal(await served(w, 'own/app', 'latest'), first);
    const second = await pushImage(w, 'own/app', 'two', 'latest');
    assert.notEqual(second, first);
    assert.equal(await served(w, 'own/app', 'latest'), second);
    const del = await fetch(`${w.url}/v2/own/app/manifests/latest`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    assert.equal(await served(w, 'own/app', 'latest'), 404);
    // Pushed again after the delete: seen at once too.
    assert.equal(await pushImage(w, 'own/app', 'one', 'latest'), first);
    assert.equal(await served(w, 'own/app', 'latest'), first);
  });
});

describe('tag cache: other writers, no Redis', () => {
  let a: Wharf;
  let b: Wharf;
  before(async () => {
    a = await startWharf({ config: config('1s') });
    b = await startWharf({ config: config('1s').replaceAll('{{data}}', a.dataDir) });
  });
  after(async () => {
    await a?.cleanup();
    await b?.cleanup();
  });

  it('serves a tag moved by a second replica within the window', async () => {
    const first = await pushImage(a, 'shared/app', 'one', 'v1');
    assert.equal(await served(a, 'shared/app', 'v1'), first);
    const second = await pushImage(b, 'shared/app', 'two', 'v1');
    assert.equal(await served(b, 'shared/app', 'v1'), second);
    await servedEventually(a, 'shared/app', 'v1', second, 30_000);
  });

  it('serves a tag whose link file was rewritten in storage within the window', async () => {
    const first = await pushImage(a, 'direct/app', 'one', 'v1');
    const second = await pushImage(a, 'direct/app', 'two');
    assert.equal(await served(a, 'direct/app', 'v1'), first);
    const link = join(a.dataDir, 'docker/registry/v2/repositories/direct/app/_manifests/tags/v1/current/link');
    writeFileSync(link, second);
    await servedEventually(a, 'direct/app', 'v1', second, 30_000);
  });

  it('answers 404 for a tag deleted by a second replica within the window', async () => {
    await pushImage(a, 'gone/app', 'one', 'v1');
    assert.equal(typeof (await served(a, 'gone/app', 'v1')), 'string');
    const del = await fetch(`${b.url}/v2/gone/app/manifests/v1`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    await servedEventually(a, 'gone/app', 'v1', 404, 30_000);
  });
});

describe('tag cache: replicas sharing Redis', { skip: REDIS_SERVER ? false : REDIS_MISSING }, () => {
  let redis: RedisServer;
  let a: Wharf;
  let b: Wharf;
  before(async () => {
    redis = await startRedis();
    const withRedis = config('1h', `redis:\n  addrs: [${redis.addr}]\n`);
    a = await startWharf({ config: withRedis });
    b = await startWharf({ config: withRedis.replaceAll('{{data}}', a.dataDir) });
  });
  after(async () => {
    await a?.cleanup();
    await b?.cleanup();
    await redis?.stop();
  });

  it("serves another replica's push and delete long before the one-hour window", async () => {
    const first = await pushImage(a, 'redis/app', 'one', 'v1');
    assert.equal(await served(a, 'redis/app', 'v1'), first);
    assert.equal(await served(b, 'redis/app', 'v1'), first);
    const second = await pushImage(b, 'redis/app', 'two', 'v1');
    await servedEventually(a, 'redis/app', 'v1', second, 20_000);
    const del = await fetch(`${a.url}/v2/redis/app/manifests/v1`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    await servedEventually(b, 'redis/app', 'v1', 404, 20_000);
  });
});
