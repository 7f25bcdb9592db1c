/**
 * The pull-through cache under load and failure, in front of another wharf (through a counting HTTP proxy):
 * 8 concurrent first pulls of a blob fetch it from the upstream once and all get it; a client killed mid-pull
 * stops nothing another client waits for; with the upstream down or failing, cached tags and digests are still
 * served (warning + metric) and only content never cached fails with 503; an expired tag is revalidated with a
 * HEAD and re-fetched only when it moved.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertError, call } from './api.js';
import { freePort, startWharf, type Wharf } from './harness.js';
import {
  countingProxy,
  debugHttp,
  getManifest,
  pushImage,
  sha256,
  startMirror,
  type CountingProxy,
} from './mirror-helpers.js';
import { eventually, metric, scrape, sleep } from './ops.js';
import { onPath } from './skopeo.js';

const CURL = onPath('curl');
const TTL_MS = 1000;

describe('pull-through cache: one fetch per blob, outages, revalidation', () => {
  let up: Wharf;
  let counter: CountingProxy;
  let mirror: Wharf;
  let debug: string;

  before(async () => {
    up = await startWharf();
    counter = await countingProxy(up.url);
    const port = await freePort();
    debug = `http://127.0.0.1:${port}`;
    mirror = await startMirror(
      `proxy:\n  remoteurl: ${counter.url}\n  ttl: ${TTL_MS}ms\n  expire: 0\n  timeout: 5s\n`,
      { logLevel: 'info', http: debugHttp(port) },
    );
  });

  after(async () => {
    await mirror?.cleanup();
    await counter?.close();
    await up?.cleanup();
  });

  /** Starts a GET and resolves when its headers arrived; `body()` reads the rest. */
  async function startGet(path: string): Promise<{ status: number; body: () => Promise<Buffer> }> {
    const r = await fetch(`${mirror.url}${path}`);
    return { status: r.status, body: async () => Buffer.from(await r.arrayBuffer()) };
  }

  function uploadsLeft(repo: string): string[] {
    const dir = join(mirror.dataDir, 'docker/registry/v2/repositories', repo, '_uploads');
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  test('8 concurrent first pulls of a blob: the upstream is asked once, every client gets the bytes', async () => {
    const img = await pushImage(up.url, 'load/app', 'v1', randomBytes(4 << 20), 'load');
    let release!: () => void;
    counter.hold = new Promise<void>((r) => (release = r));
    // All 8 have their headers while the one download is held: they are waiting on it together.
    const gets = await Promise.all(Array.from({ length: 8 }, () => startGet(`/v2/load/app/blobs/${img.layer}`)));
    counter.hold = null;
    assert.equal(counter.count(new RegExp(`^GET /v2/load/app/blobs/${img.layer}$`)), 1);
    release();
    for (const g of gets) {
      assert.equal(g.status, 200);
      assert.equal(sha256(await g.body()), img.layer);
    }
    const again = await call(mirror.url, `/v2/load/app/blobs/${img.layer}`);
    assert.equal(sha256(again.body), img.layer);
    assert.equal(
      counter.count(new RegExp(`^GET /v2/load/app/blobs/${img.layer}$`)),
      1,
      'the cached blob was fetched again',
    );
    const samples = await scrape(`${debug}/metrics`);
    assert.ok(metric(samples, 'registry_proxy_upstream_bytes_total', { type: 'blob' }) >= img.bytes.length);
    assert.ok(metric(samples, 'registry_proxy_hits_total', { type: 'blob' }) >= 8);
  });

  test(
    'a client killed mid-pull stops neither the download nor the client that waits beside it',
    { skip: CURL ? false : 'curl is not on PATH (apt-get install curl)' },
    async () => {
      const img = await pushImage(up.url, 'kill/app', 'v1', randomBytes(2 << 20), 'kill');
      let release!: () => void;
      counter.hold = new Promise<void>((r) => (release = r));
      const curl = spawn(CURL!, ['-s', '-o', '/dev/null', `${mirror.url}/v2/kill/app/blobs/${img.layer}`], {
        stdio: 'ignore',
      });
      const exited = new Promise((r) => curl.once('exit', r));
      assert.ok(
        await eventually(() => counter.count(new RegExp(`^GET /v2/kill/app/blobs/${img.layer}$`)) === 1),
        'curl never reached the upstream',
      );
      const second = await startGet(`/v2/kill/app/blobs/${img.layer}`);
      counter.hold = null;
      curl.kill('SIGKILL');
      await exited;
      release();
      assert.equal(sha256(await second.body()), img.layer);
      assert.equal(counter.count(new RegExp(`^GET /v2/kill/app/blobs/${img.layer}$`)), 1);
      assert.ok(
        await eventually(
          async () => (await call(mirror.url, `/v2/kill/app/blobs/${img.layer}`, { method: 'HEAD' })).status === 200,
        ),
      );
      assert.equal(counter.count(new RegExp(`^GET /v2/kill/app/blobs/${img.layer}$`)), 1, 'the blob was not kept');
      assert.ok(
        await eventually(() => uploadsLeft('kill/app').length === 0),
        `upload sessions left: ${uploadsLeft('kill/app')}`,
      );
    },
  );

  test('upstream down or failing: cached tags and digests are served (warning + metric); never-cached content is 503', async () => {
    const img = await pushImage(up.url, 'down/app', 'v1', randomBytes(1000), 'down');
    assert.equal((await getManifest(mirror.url, 'down/app', 'v1')).digest, img.manifest);
    assert.equal(sha256((await call(mirror.url, `/v2/down/app/blobs/${img.layer}`)).body), img.layer);
    await sleep(TTL_MS + 200);
    for (const mode of ['down', 'error'] as const) {
      counter.mode = mode;
      try {
        const byTag = await getManifest(mirror.url, 'down/app', 'v1');
        assert.equal(byTag.status, 200, `${mode}: by tag`);
        assert.equal(byTag.digest, img.manifest);
        assert.equal((await getManifest(mirror.url, 'down/app', img.manifest)).status, 200, `${mode}: by digest`);
        assert.equal(sha256((await call(mirror.url, `/v2/down/app/blobs/${img.layer}`)).body), img.layer);
        assertError(await call(mirror.url, '/v2/down/app/manifests/never'), 503, 'UNAVAILABLE');
        assertError(await call(mirror.url, '/v2/down/other/manifests/v1'), 503, 'UNAVAILABLE');
        assertError(await call(mirror.url, `/v2/down/app/blobs/sha256:${'1'.repeat(64)}`), 503, 'UNAVAILABLE');
      } finally {
        counter.mode = 'up';
      }
    }
    assert.match(mirror.output(), /could not revalidate down\/app:v1; serving the cached/);
    const samples = await scrape(`${debug}/metrics`);
    assert.ok(metric(samples, 'registry_proxy_stale_served_total') >= 2);
    assert.ok(metric(samples, 'registry_proxy_upstream_errors_total', { kind: 'unreachable' }) >= 1);
    assert.ok(metric(samples, 'registry_proxy_upstream_errors_total', { kind: 'status' }) >= 1);
  });

  test('an expired tag is revalidated with a HEAD: unchanged is served from the cache, a moved tag serves the new image', async () => {
    const first = await pushImage(up.url, 'fresh/app', 'v1', randomBytes(1000), 'first');
    assert.equal((await getManifest(mirror.url, 'fresh/app', 'v1')).digest, first.manifest);
    await sleep(TTL_MS + 200);
    let n = counter.requests.length;
    assert.equal((await getManifest(mirror.url, 'fresh/app', 'v1')).digest, first.manifest);
    const unchanged = counter.requests.slice(n).filter((r) => r.includes('/manifests/'));
    assert.deepEqual(unchanged, ['HEAD /v2/fresh/app/manifests/v1']);
    const second = await pushImage(up.url, 'fresh/app', 'v1', randomBytes(1000), 'second');
    assert.equal(
      (await getManifest(mirror.url, 'fresh/app', 'v1')).digest,
      first.manifest,
      'a fresh tag is not asked about',
    );
    await sleep(TTL_MS + 200);
    n = counter.requests.length;
    assert.equal((await getManifest(mirror.url, 'fresh/app', 'v1')).digest, second.manifest);
    assert.deepEqual(
      counter.requests.slice(n).filter((r) => r.includes('/manifests/')),
      ['HEAD /v2/fresh/app/manifests/v1', `GET /v2/fresh/app/manifests/${second.manifest}`],
    );
    const samples = await scrape(`${debug}/metrics`);
    assert.ok(metric(samples, 'registry_proxy_revalidations_total', { outcome: 'unchanged' }) >= 1);
    assert.ok(metric(samples, 'registry_proxy_revalidations_total', { outcome: 'changed' }) >= 1);
  });
});
