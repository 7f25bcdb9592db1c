/**
 * The pull-through cache on S3 storage (a real Ceph RGW), with two replicas sharing the bucket and Redis: skopeo
 * pulls through one replica with the upstream's digest, a warm blob pull is the driver's redirect, and concurrent
 * first pulls of one blob through both replicas fetch it from the upstream once (the Redis lock: one replica
 * downloads, the other waits until the blob is in storage and serves it from there).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call } from './api.js';
import { startWharf, type Wharf } from './harness.js';
import { countingProxy, pushImage, pushLayout, sha256, type CountingProxy } from './mirror-helpers.js';
import { LayoutReader, OciLayout, type BuiltImage } from './ocilayout.js';
import { REDIS_MISSING, REDIS_SERVER, startRedis, type RedisServer } from './redisserver.js';
import { copy, SKOPEO, SKOPEO_MISSING } from './skopeo.js';
import { s3Unavailable, startS3, type S3Server } from './s3server.js';
import { createBucket, wharfS3Config } from './s3wharf.js';

const reason = s3Unavailable() ?? (SKOPEO ? null : SKOPEO_MISSING) ?? (REDIS_SERVER ? null : REDIS_MISSING);

describe('pull-through cache on S3 with two replicas', { skip: reason ?? undefined }, () => {
  let work: string;
  let s3: S3Server;
  let redis: RedisServer;
  let up: Wharf;
  let counter: CountingProxy;
  let a: Wharf;
  let b: Wharf;
  let img: BuiltImage;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-mirror-s3-'));
    up = await startWharf();
    const layout = new OciLayout(join(work, 'layout'));
    img = layout.image('s3mirror', { os: 'linux', architecture: 'amd64' }, 1);
    layout.tag('v1', img.manifest);
    await pushLayout(layout.dir, 'v1', `127.0.0.1:${up.port}`, 'team/app');
    counter = await countingProxy(up.url);
    s3 = await startS3();
    await createBucket(s3, 'mirror');
    redis = await startRedis();
    const config = wharfS3Config(s3, 'mirror', { redis: redis.addr, extra: `proxy:\n  remoteurl: ${counter.url}\n` });
    a = await startWharf({ config });
    b = await startWharf({ config });
  });

  after(async () => {
    await a?.cleanup();
    await b?.cleanup();
    await counter?.close();
    await up?.cleanup();
    await redis?.stop();
    await s3?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('skopeo pulls through the S3 mirror; the other replica serves it from the cache, blobs by redirect', async () => {
    const out = join(work, 'pulled');
    await copy(`docker://127.0.0.1:${a.port}/team/app:v1`, `oci:${out}:v1`);
    assert.equal(new LayoutReader(out).ref('v1').digest, img.manifest.digest);
    const before = counter.requests.length;
    const out2 = join(work, 'pulled-b');
    await copy(`docker://127.0.0.1:${b.port}/team/app:v1`, `oci:${out2}:v1`);
    assert.equal(new LayoutReader(out2).ref('v1').digest, img.manifest.digest);
    assert.deepEqual(counter.requests.slice(before), []);
    const r = await call(b.url, `/v2/team/app/blobs/${img.layers[0].digest}`);
    assert.equal(r.status, 307, 'a cached blob on S3 is served by redirect');
  });

  test('concurrent first pulls of one blob through both replicas: one upstream fetch', async () => {
    const blob = await pushImage(up.url, 'team/big', 'v1', randomBytes(3 << 20), 'big');
    let release!: () => void;
    counter.hold = new Promise<void>((r) => (release = r));
    const first = await fetch(`${a.url}/v2/team/big/blobs/${blob.layer}`);
    counter.hold = null;
    const second = fetch(`${b.url}/v2/team/big/blobs/${blob.layer}`);
    // B is waiting on A's lock (it never reaches the upstream) while A's download is held.
    await new Promise((r) => setTimeout(r, 500));
    release();
    assert.equal(sha256(Buffer.from(await first.arrayBuffer())), blob.layer);
    const got = await second;
    assert.equal(sha256(Buffer.from(await got.arrayBuffer())), blob.layer);
    assert.equal(counter.count(new RegExp(`^GET /v2/team/big/blobs/${blob.layer}$`)), 1);
    // Both replicas hold it now (served from S3 by redirect), and neither asks the upstream again.
    for (const w of [a, b]) assert.equal((await call(w.url, `/v2/team/big/blobs/${blob.layer}`)).status, 307);
    assert.equal(counter.count(new RegExp(`^GET /v2/team/big/blobs/${blob.layer}$`)), 1);
  });
});
