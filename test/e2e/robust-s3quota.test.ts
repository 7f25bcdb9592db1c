/**
 * A full bucket (issue 12): wharf on a real S3 server (Ceph RGW) whose user quota is then set below what it
 * stores (`radosgw-admin quota set --quota-scope=user --max-size=...` + `quota enable`), so that RGW refuses every
 * write with 403 QuotaExceeded. Every push answers 503 with the JSON error body saying storage is full, reads keep
 * working, nothing partial shows, /debug/health and the metric say so; once the quota is lifted pushes work again
 * without a restart.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { freePort, makeImage, OCI_MANIFEST, startWharf, type Wharf } from './harness.js';
import { call, rel } from './api.js';
import { s3Unavailable, startS3, type S3Server } from './s3server.js';
import { createBucket, wharfS3Config } from './s3wharf.js';
import { alive } from './robust.js';

const run = promisify(execFile);
const reason = s3Unavailable();
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('wharf on a bucket over its quota', { skip: reason ?? undefined }, () => {
  let s3: S3Server;
  let w: Wharf;
  let debug = '';
  let manifest = '';
  let layer = '';
  const admin = (...args: string[]) =>
    run('radosgw-admin', ['-c', join(s3.dir, 'ceph.conf'), ...args], { timeout: 60_000 });

  before(async () => {
    s3 = await startS3();
    await createBucket(s3, 'quota');
    const port = await freePort();
    debug = `http://127.0.0.1:${port}`;
    w = await startWharf({
      config: wharfS3Config(s3, 'quota', { redirect: false }),
      env: { REGISTRY_HTTP_DEBUG_ADDR: `127.0.0.1:${port}`, REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true' },
    });
    const img = await makeImage(w.url, 'quota/base', 'q');
    layer = img.layer;
    manifest = JSON.stringify(img.manifest);
    assert.equal(
      (
        await call(w.url, '/v2/quota/base/manifests/v1', {
          method: 'PUT',
          body: manifest,
          headers: { 'Content-Type': OCI_MANIFEST },
        })
      ).status,
      201,
    );
    // Below what the bucket already holds: RGW refuses every further write with 403 QuotaExceeded.
    await admin('quota', 'set', '--quota-scope=user', `--uid=s3test`, '--max-size=1024');
    await admin('quota', 'enable', '--quota-scope=user', '--uid=s3test');
  });
  after(async () => {
    await w?.cleanup();
    await s3?.stop();
  });

  const assertFull = (r: { status: number; text: string; headers: Headers }, what: string) => {
    assert.equal(r.status, 503, `${what}: ${r.status} ${r.text}`);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    const e = (JSON.parse(r.text) as { errors: Array<{ code: string; message: string }> }).errors[0];
    assert.equal(e.code, 'UNAVAILABLE');
    assert.match(e.message, /full/);
    assert.doesNotMatch(r.text, /quota\/|QuotaExceeded|s3test/, `${what} leaks internals`);
  };

  test('every kind of push is refused with 503 UNAVAILABLE "storage is full"; reads keep working', async () => {
    const data = Buffer.from('a blob over the quota');
    assertFull(
      await call(w.url, `/v2/quota/new/blobs/uploads/?digest=${sha(data)}`, {
        method: 'POST',
        body: new Uint8Array(data),
      }),
      'monolithic',
    );
    assertFull(await call(w.url, '/v2/quota/new/blobs/uploads/', { method: 'POST' }), 'session start');
    assertFull(
      await call(w.url, '/v2/quota/base/manifests/v2', {
        method: 'PUT',
        body: manifest,
        headers: { 'Content-Type': OCI_MANIFEST },
      }),
      'manifest',
    );
    assert.equal((await call(w.url, `/v2/quota/new/blobs/${sha(data)}`)).status, 404);
    assert.equal((await call(w.url, '/v2/quota/base/manifests/v2', { headers: { Accept: OCI_MANIFEST } })).status, 404);
    const tags = JSON.parse((await call(w.url, '/v2/quota/base/tags/list')).text) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v1']);
    assert.equal(
      (await call(w.url, '/v2/quota/base/manifests/v1', { headers: { Accept: OCI_MANIFEST } })).text,
      manifest,
    );
    assert.equal((await call(w.url, `/v2/quota/base/blobs/${layer}`)).status, 200);
    assert.match((await call(debug, '/metrics')).text, /^registry_storage_full 1$/m);
    assert.match((await call(debug, '/debug/health')).text, /storage is full/);
  });

  test('once the quota is lifted, pushes work again without a restart', async () => {
    await admin('quota', 'disable', '--quota-scope=user', '--uid=s3test');
    const data = Buffer.from('a blob after the quota was lifted');
    // RGW applies the change at once here; a few retries cover a slower cache refresh.
    let status = 0;
    for (let i = 0; i < 50 && status !== 201; i++) {
      status = (
        await call(w.url, `/v2/quota/new/blobs/uploads/?digest=${sha(data)}`, {
          method: 'POST',
          body: new Uint8Array(data),
        })
      ).status;
      if (status !== 201) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, 201);
    const start = await call(w.url, '/v2/quota/new/blobs/uploads/', { method: 'POST' });
    assert.equal(start.status, 202);
    const more = Buffer.from('chunked after the quota');
    const done = await call(w.url, `${rel(start.headers.get('location'))}&digest=${sha(more)}`, {
      method: 'PUT',
      body: new Uint8Array(more),
    });
    assert.equal(done.status, 201, done.text);
    assert.equal(
      (
        await call(w.url, '/v2/quota/base/manifests/v2', {
          method: 'PUT',
          body: manifest,
          headers: { 'Content-Type': OCI_MANIFEST },
        })
      ).status,
      201,
    );
    assert.equal((await call(w.url, `/v2/quota/new/blobs/${sha(data)}`)).text, data.toString());
    assert.doesNotMatch((await call(debug, '/metrics')).text, /^registry_storage_full 1$/m);
    assert.ok(alive(w.proc.pid!));
  });
});
