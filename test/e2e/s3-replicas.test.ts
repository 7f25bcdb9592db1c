/**
 * Two wharf replicas sharing one S3 bucket (real Ceph RGW), one Redis (real redis-server) and one http.secret,
 * behind no load balancer: the test plays the balancer by sending each request to the replica it chooses.
 *  - an upload started on A is continued on B and finished on A; a second writer on the other replica is refused;
 *  - skopeo pushes through A and pulls through B;
 *  - a manifest or blob deleted on A is gone on B at once (shared blob descriptor cache in Redis);
 *  - failed logins on A count on B (shared brute-force counters, htpasswd auth);
 *  - `wharf garbage-collect` on the shared bucket while the replicas serve: kept images still pull;
 *  - Redis killed: both replicas keep serving pushes and pulls, log the outage once, report it in health while
 *    staying ready; Redis back: recovery logged, health clean;
 *  - S3 killed mid-push: the push fails with 503 UNAVAILABLE (or a dropped connection), reads answer 503, the
 *    storage health check fails; a fresh RGW with a new replica takes pushes again.
 */
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { freePort, MAIN, startWharf, type Wharf } from './harness.js';
import { LayoutReader, OciLayout, type BuiltIndex } from './ocilayout.js';
import { eventually, slowRequest } from './ops.js';
import { REDIS_MISSING, REDIS_SERVER, startRedis, type RedisServer } from './redisserver.js';
import { s3Unavailable, startS3, type S3Server } from './s3server.js';
import { createBucket, wharfS3Config } from './s3wharf.js';
import { copy, SKOPEO, SKOPEO_MISSING } from './skopeo.js';

const MiB = 1024 * 1024;
const reason = s3Unavailable() ?? (REDIS_SERVER ? null : REDIS_MISSING) ?? (SKOPEO ? null : SKOPEO_MISSING);
const USER = 'ci';
const PASSWORD = 'replica-secret';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const CREDS = `${USER}:${PASSWORD}`;

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('two replicas on one bucket, one Redis', { skip: reason ?? undefined }, () => {
  let s3: S3Server;
  let redis: RedisServer;
  let a: Wharf;
  let b: Wharf;
  let work: string;
  let layout: OciLayout;
  let multi: BuiltIndex;
  const debug: Record<string, number> = {};
  const bucket = 'replicas';

  const config = (debugPort: number, s: S3Server, bkt: string) =>
    wharfS3Config(s, bkt, {
      redis: redis.addr,
      extra: `auth:
  htpasswd:
    realm: replicas
    path: ${join(work, 'htpasswd')}
bruteforce:
  maxfailures: 3
  window: 5m
  backoff:
    initial: 1m
health:
  storagedriver:
    enabled: true
    interval: 500ms
    threshold: 1
http_debug_placeholder: ${debugPort}
`,
    })
      .replace(/http_debug_placeholder: (\d+)\n/, '')
      .replace(
        '  secret: e2e-replicas-secret\n',
        `  secret: e2e-replicas-secret\n  debug:\n    addr: 127.0.0.1:${debugPort}\n`,
      );

  async function replica(name: string, s = s3, bkt = bucket): Promise<Wharf> {
    debug[name] = await freePort();
    return startWharf({ config: config(debug[name], s, bkt) });
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-replicas-'));
    writeFileSync(join(work, 'htpasswd'), `${USER}:${bcrypt.hashSync(PASSWORD, 5)}\n`);
    layout = new OciLayout(join(work, 'src'));
    multi = layout.index([
      layout.image('r-amd64', { os: 'linux', architecture: 'amd64' }),
      layout.image('r-arm64', { os: 'linux', architecture: 'arm64' }),
    ]);
    layout.tag('multi', multi.index);
    // Assigned one by one, so that after() stops whichever started when the other fails.
    const starting = startRedis().then((r) => (redis = r));
    s3 = await startS3().finally(() => starting.catch(() => undefined));
    await starting;
    await createBucket(s3, bucket);
    [a, b] = await Promise.all([replica('a'), replica('b')]);
  });

  after(async () => {
    await a?.cleanup();
    await b?.cleanup();
    await redis?.stop();
    await s3?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Accepts OCI manifests (Distribution answers 404 for an OCI manifest the client does not accept). */
  const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';
  const api = (w: Wharf, path: string, init: RequestInit = {}) =>
    fetch(`${w.url}${path}`, {
      ...init,
      headers: { Authorization: AUTH, Accept: ACCEPT, ...(init.headers as Record<string, string>) },
    });
  const docker = (w: Wharf, ref: string) => `docker://127.0.0.1:${w.port}/${ref}`;

  async function pushBlob(w: Wharf, name: string, data: Buffer): Promise<string> {
    const digest = sha(data);
    const r = await api(w, `/v2/${name}/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: new Uint8Array(data),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(r.status, 201, await r.text());
    return digest;
  }

  async function pushImage(w: Wharf, name: string, tag: string, seed: string): Promise<string> {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
    const layer = randomBytes(1024);
    const m = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: await pushBlob(w, name, config),
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: await pushBlob(w, name, layer),
          size: layer.length,
        },
      ],
    };
    const r = await api(w, `/v2/${name}/manifests/${tag}`, {
      method: 'PUT',
      body: JSON.stringify(m),
      headers: { 'Content-Type': m.mediaType },
    });
    assert.equal(r.status, 201, await r.text());
    return r.headers.get('docker-content-digest')!;
  }

  test('an upload started on A is continued on B and finished on A', async () => {
    const parts = [randomBytes(6 * MiB), randomBytes(3 * MiB), randomBytes(MiB)];
    const whole = Buffer.concat(parts);
    let r = await api(a, '/v2/shared/chunked/blobs/uploads/', { method: 'POST' });
    assert.equal(r.status, 202);
    let loc = r.headers.get('location')!;
    let off = 0;
    for (const [i, w] of [a, b, a].entries()) {
      r = await api(w, new URL(loc, w.url).pathname + new URL(loc, w.url).search, {
        method: 'PATCH',
        body: parts[i],
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${off}-${off + parts[i].length - 1}` },
      });
      assert.equal(r.status, 202, `PATCH ${i} on ${w === a ? 'A' : 'B'}: ${await r.text()}`);
      off += parts[i].length;
      assert.equal(r.headers.get('range'), `0-${off - 1}`);
      loc = r.headers.get('location')!;
    }
    const u = new URL(loc, a.url);
    r = await api(a, `${u.pathname}${u.search}&digest=${sha(whole)}`, { method: 'PUT' });
    assert.equal(r.status, 201, await r.text());
    const got = await api(b, `/v2/shared/chunked/blobs/${sha(whole)}`);
    assert.ok(got.status === 200 || got.status === 307);
    const bytes = Buffer.from(
      await (got.status === 307 ? await fetch(got.headers.get('location')!) : got).arrayBuffer(),
    );
    assert.equal(sha(bytes), sha(whole));
  });

  test('one writer per upload across replicas: a PATCH on B while A is still receiving one is refused', async () => {
    const r = await api(a, '/v2/shared/locked/blobs/uploads/', { method: 'POST' });
    const loc = new URL(r.headers.get('location')!, a.url);
    const slow = slowRequest(`${a.url}${loc.pathname}${loc.search}`, 'PATCH', { Authorization: AUTH });
    await slow.write(randomBytes(MiB));
    await new Promise((res) => setTimeout(res, 300));
    const second = await api(b, `${loc.pathname}${loc.search}`, {
      method: 'PATCH',
      body: randomBytes(10),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(second.status, 416, await second.text());
    slow.end();
    assert.equal((await slow.response).status, 202);
  });

  test('skopeo pushes a multi-platform index through A and pulls it through B', async () => {
    await copy(`oci:${layout.dir}:multi`, docker(a, 'shared/app:multi'), '--all', '--dest-creds', CREDS);
    const out = join(work, 'pulled');
    await copy(docker(b, 'shared/app:multi'), `oci:${out}:multi`, '--all', '--src-creds', CREDS);
    const back = new LayoutReader(out);
    assert.equal(back.ref('multi').digest, multi.index.digest);
    for (const img of multi.images)
      for (const blob of [img.manifest, img.config, ...img.layers])
        assert.deepEqual(back.blob(blob.digest), blob.bytes);
  });

  test('a manifest and a blob deleted on A are gone on B at once (shared descriptor cache)', async () => {
    const digest = await pushImage(a, 'shared/del', 'v1', 'del');
    const blob = await pushBlob(a, 'shared/del', randomBytes(2048));
    // B reads them: now cached (in Redis).
    assert.equal((await api(b, `/v2/shared/del/manifests/${digest}`, { method: 'HEAD' })).status, 200);
    assert.equal((await api(b, `/v2/shared/del/blobs/${blob}`, { method: 'HEAD' })).status, 200);
    assert.equal((await api(a, `/v2/shared/del/manifests/${digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await api(a, `/v2/shared/del/blobs/${blob}`, { method: 'DELETE' })).status, 202);
    assert.equal((await api(b, `/v2/shared/del/manifests/${digest}`, { method: 'HEAD' })).status, 404);
    assert.equal(
      (await api(b, `/v2/shared/del/manifests/v1`, { method: 'HEAD' })).status,
      404,
      'the tag went with the manifest',
    );
    assert.equal((await api(b, `/v2/shared/del/blobs/${blob}`, { method: 'HEAD' })).status, 404);
  });

  /** A login attempt from a loopback address of our choosing (throttling counts per address and per user from it). */
  function login(w: Wharf, password: string, from: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(
        `${w.url}/v2/`,
        {
          localAddress: from,
          headers: { Authorization: `Basic ${Buffer.from(`${USER}x:${password}`).toString('base64')}` },
          agent: false,
        },
        (res) => {
          res.resume();
          res.once('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.once('error', reject);
      req.end();
    });
  }

  test('brute-force counters are shared: failures on A count on B', async () => {
    writeFileSync(
      join(work, 'htpasswd'),
      `${USER}:${bcrypt.hashSync(PASSWORD, 5)}\n${USER}x:${bcrypt.hashSync('right', 5)}\n`,
    );
    await new Promise((r) => setTimeout(r, 1100)); // the file is re-read when its mtime changes
    assert.equal(await login(a, 'right', '127.0.0.7'), 200);
    assert.equal(await login(a, 'wrong1', '127.0.0.7'), 401);
    assert.equal(await login(a, 'wrong2', '127.0.0.7'), 401);
    assert.equal(await login(b, 'wrong3', '127.0.0.7'), 401);
    // Three failures across the replicas: that user is throttled from that address on both, even with the right
    // password, and never from another address.
    assert.equal(await login(b, 'right', '127.0.0.7'), 429);
    assert.equal(await login(a, 'right', '127.0.0.7'), 429);
    assert.equal(await login(a, 'right', '127.0.0.8'), 200, 'the owner from another address is not stopped');
  });

  test('wharf garbage-collect on the shared bucket while the replicas serve: kept images still pull', async () => {
    const r = await promisify(execFile)(
      process.execPath,
      [MAIN, 'garbage-collect', '--grace', '0s', join(a.dir, 'config.yml')],
      { timeout: 120_000 },
    );
    assert.match(r.stdout + r.stderr, /remov|deleted|nothing/i);
    const out = join(work, 'after-gc');
    await copy(docker(b, 'shared/app:multi'), `oci:${out}:multi`, '--all', '--src-creds', CREDS);
    assert.equal(new LayoutReader(out).ref('multi').digest, multi.index.digest);
  });

  test('Redis killed: both replicas keep serving, log it once, report it without turning unready; back: recovery logged', async () => {
    await redis.kill();
    // Both notice (the next command fails, or the connection closes).
    await pushImage(a, 'shared/noredis', 'a', 'noredis-a');
    await pushImage(b, 'shared/noredis', 'b', 'noredis-b');
    for (const w of [a, b]) assert.ok(await eventually(() => /redis: unavailable/.test(w.output()), 5000), w.output());
    // Pushes through one replica, pulls through the other, chunked uploads across them.
    const out = join(work, 'noredis');
    await copy(`oci:${layout.dir}:multi`, docker(b, 'shared/noredis:multi'), '--all', '--dest-creds', CREDS);
    await copy(docker(a, 'shared/noredis:multi'), `oci:${out}:multi`, '--all', '--src-creds', CREDS);
    assert.equal((await api(a, '/v2/shared/noredis/manifests/b', { method: 'HEAD' })).status, 200);
    const ready = await fetch(`${a.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.match(JSON.stringify(await ready.json()), /"degraded":\{"redis":"redis unavailable/);
    const health = await fetch(`http://127.0.0.1:${debug.a}/debug/health`);
    assert.equal(health.status, 200, 'a cache outage is not a registry outage');
    assert.ok('redis' in ((await health.json()) as Record<string, string>));
    for (const w of [a, b]) assert.equal(w.output().match(/redis: unavailable/g)?.length, 1, 'one line per outage');

    await redis.restart();
    for (const w of [a, b])
      assert.ok(await eventually(() => /redis: available again/.test(w.output()), 10_000), w.output());
    assert.deepEqual(await (await fetch(`http://127.0.0.1:${debug.b}/debug/health`)).json(), {});
    assert.deepEqual(await (await fetch(`${b.url}/readyz`)).json(), { status: 'ok' });
    await pushImage(a, 'shared/noredis', 'after', 'after');
    assert.equal((await api(b, '/v2/shared/noredis/manifests/after', { method: 'HEAD' })).status, 200);
    // The shared cache is in use again: B's read was cached in Redis.
    assert.match(
      await redis.command('KEYS wharf:link:manifest:shared/noredis*'),
      /wharf:link:manifest:shared\/noredis@sha256:/,
    );
  });

  test('S3 killed mid-push: 503 UNAVAILABLE (or a dropped connection), reads 503, storage health fails; a fresh RGW takes pushes again', async () => {
    const data = randomBytes(24 * MiB);
    const digest = sha(data);
    const r = await api(a, '/v2/shared/outage/blobs/uploads/', { method: 'POST' });
    const loc = new URL(r.headers.get('location')!, a.url);
    const slow = slowRequest(`${a.url}${loc.pathname}${loc.search}&digest=${digest}`, 'PUT', {
      Authorization: AUTH,
      'Content-Length': String(data.length),
    });
    await slow.write(data.subarray(0, 12 * MiB));
    s3.kill();
    await slow.write(data.subarray(12 * MiB)).catch(() => undefined);
    slow.end();
    const outcome = await slow.response.then(
      (res) => res,
      (err: Error) => ({ status: 0, body: err.message }),
    );
    assert.ok(outcome.status === 503 || outcome.status === 0, `${outcome.status} ${outcome.body}`);
    if (outcome.status === 503) assert.match(outcome.body, /"code":"UNAVAILABLE"/);
    const head = await api(b, `/v2/shared/outage/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 503, 'never a 200 for a blob that did not finish');
    const get = await api(b, '/v2/shared/app/manifests/multi');
    assert.equal(get.status, 503);
    assert.match(await get.text(), /"code":"UNAVAILABLE"/);
    assert.ok(await eventually(async () => (await fetch(`${a.url}/readyz`)).status === 503, 5000));
    assert.match(
      JSON.stringify(await (await fetch(`http://127.0.0.1:${debug.a}/debug/health`)).json()),
      /storagedriver_s3/,
    );
    assert.match(a.output(), /storage unavailable/);

    // start-s3.sh cannot restart on the same directory: a fresh RGW, a fresh bucket, a new replica.
    const fresh = await startS3();
    try {
      await createBucket(fresh, 'after-outage');
      const c = await replica('c', fresh, 'after-outage');
      try {
        assert.equal((await api(c, `/v2/shared/outage/blobs/${digest}`, { method: 'HEAD' })).status, 404);
        const put = await api(c, `/v2/shared/outage/blobs/uploads/?digest=${digest}`, {
          method: 'POST',
          body: new Uint8Array(data),
          headers: { 'Content-Type': 'application/octet-stream' },
        });
        assert.equal(put.status, 201);
        assert.equal(
          (await api(c, `/v2/shared/outage/blobs/${digest}`, { method: 'HEAD' })).headers.get('content-length'),
          String(data.length),
        );
      } finally {
        await c.cleanup();
      }
    } finally {
      await fresh.stop();
    }
  });
});
