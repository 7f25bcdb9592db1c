/**
 * wharf on S3 (`storage.s3` on a real Ceph RADOS Gateway started by the test), end to end with real clients:
 *  - skopeo pushes a single image and a two-platform index and pulls them back byte for byte, following blob
 *    GETs that answer 307 to a presigned URL; with `storage.redirect.disable: true` blobs stream through wharf;
 *  - a 64 MiB blob pushed in four PATCH chunks (Content-Range) and monolithically reads back intact;
 *  - a 512 MiB blob streamed in one PUT leaves wharf's peak RSS far below the blob size;
 *  - the bucket is shared with CNCF Distribution 2.8 (`docker-registry`) both ways: pushed through wharf, pulled
 *    through Distribution, and the other way round.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DOCKER_REGISTRY_BIN, DOCKER_REGISTRY_MISSING } from './distribution.js';
import { startWharf, type Wharf } from './harness.js';
import { LayoutReader, MT, OciLayout, type BuiltImage, type BuiltIndex } from './ocilayout.js';
import { s3Unavailable, startS3, type S3Server } from './s3server.js';
import {
  createBucket,
  listKeys,
  peakRss,
  s3Storage,
  startDistributionS3,
  wharfS3Config,
  type DistributionS3,
} from './s3wharf.js';
import { copy, SKOPEO, SKOPEO_MISSING } from './skopeo.js';

const MiB = 1024 * 1024;
const reason = s3Unavailable() ?? (SKOPEO ? null : SKOPEO_MISSING);

describe('wharf on S3 (Ceph RGW)', { skip: reason ?? undefined }, () => {
  let s3: S3Server;
  let w: Wharf;
  let streaming: Wharf;
  let work: string;
  let layout: OciLayout;
  let single: BuiltImage;
  let multi: BuiltIndex;
  const bucket = 'wharf-e2e';
  let n = 0;
  const scratch = (what: string) => join(work, `${what}-${++n}`);

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-s3-'));
    layout = new OciLayout(join(work, 'src'));
    single = layout.image('s3-single', { os: 'linux', architecture: 'amd64' }, 1);
    layout.tag('v1', single.manifest);
    multi = layout.index([
      layout.image('s3-amd64', { os: 'linux', architecture: 'amd64' }),
      layout.image('s3-arm64', { os: 'linux', architecture: 'arm64' }),
    ]);
    layout.tag('multi', multi.index);
    s3 = await startS3();
    await createBucket(s3, bucket);
    w = await startWharf({ config: wharfS3Config(s3, bucket) });
    streaming = await startWharf({ config: wharfS3Config(s3, bucket, { redirect: false }) });
  });

  after(async () => {
    await w?.cleanup();
    await streaming?.cleanup();
    await s3?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const docker = (reg: Wharf | DistributionS3, ref: string) =>
    `docker://${'port' in reg ? `127.0.0.1:${reg.port}` : reg.host}/${ref}`;

  function checkPulled(dir: string, tag: string, img: BuiltImage | BuiltIndex): void {
    const back = new LayoutReader(dir);
    const top = 'index' in img ? img.index : img.manifest;
    assert.equal(back.ref(tag).digest, top.digest);
    assert.deepEqual(back.blob(top.digest), top.bytes);
    for (const i of 'index' in img ? img.images : [img]) {
      assert.deepEqual(back.blob(i.manifest.digest), i.manifest.bytes);
      for (const b of [i.config, ...i.layers]) assert.deepEqual(back.blob(b.digest), b.bytes, b.digest);
    }
  }

  test("skopeo pushes an image and a multi-platform index, objects land at Distribution's keys, pulls follow the 307 redirects", async () => {
    await copy(`oci:${layout.dir}:v1`, docker(w, 's3/app:v1'));
    await copy(`oci:${layout.dir}:multi`, docker(w, 's3/app:multi'), '--all');
    const keys = await listKeys(s3, bucket, 'docker/registry/v2/');
    const hex = single.layers[0].digest.slice(7);
    assert.ok(keys.includes(`docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`), keys.join('\n'));
    assert.ok(keys.includes(`docker/registry/v2/repositories/s3/app/_manifests/tags/multi/current/link`));
    assert.ok(!keys.some((k) => k.includes('/_uploads/')), 'finished uploads leave nothing behind');

    const r = await fetch(`${w.url}/v2/s3/app/blobs/${single.layers[0].digest}`, { redirect: 'manual' });
    assert.equal(r.status, 307);
    const location = r.headers.get('location')!;
    assert.ok(location.startsWith(s3.endpoint) && location.includes('X-Amz-Signature='), location);
    assert.deepEqual(Buffer.from(await (await fetch(location)).arrayBuffer()), single.layers[0].bytes);

    const out1 = scratch('pull');
    await copy(docker(w, 's3/app:v1'), `oci:${out1}:v1`);
    checkPulled(out1, 'v1', single);
    const out2 = scratch('pull');
    await copy(docker(w, 's3/app:multi'), `oci:${out2}:multi`, '--all');
    checkPulled(out2, 'multi', multi);
  });

  test('storage.redirect.disable streams blobs through wharf (ranges too)', async () => {
    const blob = single.layers[0];
    const r = await fetch(`${streaming.url}/v2/s3/app/blobs/${blob.digest}`, { redirect: 'manual' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('docker-content-digest'), blob.digest);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), blob.bytes);
    const part = await fetch(`${streaming.url}/v2/s3/app/blobs/${blob.digest}`, { headers: { Range: 'bytes=1-4' } });
    assert.equal(part.status, 206);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), blob.bytes.subarray(1, 5));
    const out = scratch('pull');
    await copy(docker(streaming, 's3/app:multi'), `oci:${out}:multi`, '--all');
    checkPulled(out, 'multi', multi);
  });

  async function readBack(base: string, name: string, digest: string): Promise<string> {
    const r = await fetch(`${base}/v2/${name}/blobs/${digest}`);
    assert.equal(r.status, 200);
    const h = createHash('sha256');
    for await (const c of r.body!) h.update(c);
    return `sha256:${h.digest('hex')}`;
  }

  test('a 64 MiB blob pushed in four PATCH chunks, and the same size monolithically, reads back intact', async () => {
    const data = randomBytes(64 * MiB);
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const start = await fetch(`${w.url}/v2/s3/big/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    let location = start.headers.get('location')!;
    const chunk = 16 * MiB;
    for (let off = 0; off < data.length; off += chunk) {
      const r = await fetch(new URL(location, w.url), {
        method: 'PATCH',
        body: data.subarray(off, off + chunk),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${off}-${off + chunk - 1}` },
      });
      assert.equal(r.status, 202, await r.text());
      assert.equal(r.headers.get('range'), `0-${off + chunk - 1}`);
      location = r.headers.get('location')!;
    }
    const put = await fetch(new URL(`${location}&digest=${digest}`, w.url), { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    const head = await fetch(`${w.url}/v2/s3/big/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), String(64 * MiB));
    assert.equal(await readBack(streaming.url, 's3/big', digest), digest);

    const mono = randomBytes(64 * MiB);
    const monoDigest = `sha256:${createHash('sha256').update(mono).digest('hex')}`;
    const s = await fetch(`${w.url}/v2/s3/big/blobs/uploads/`, { method: 'POST' });
    const p = await fetch(new URL(`${s.headers.get('location')}&digest=${monoDigest}`, w.url), {
      method: 'PUT',
      body: mono,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(p.status, 201, await p.text());
    assert.equal(await readBack(streaming.url, 's3/big', monoDigest), monoDigest);
  });

  test("a 512 MiB blob streamed in one PUT: wharf's peak RSS stays far below the blob size", async (t) => {
    const size = 512 * MiB;
    const block = randomBytes(MiB);
    const hash = createHash('sha256');
    for (let i = 0; i < size / MiB; i++) hash.update(block);
    const digest = `sha256:${hash.digest('hex')}`;
    const before = peakRss(w.proc.pid!);
    const s = await fetch(`${w.url}/v2/s3/huge/blobs/uploads/`, { method: 'POST' });
    const url = new URL(`${s.headers.get('location')}&digest=${digest}`, w.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'PUT',
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
          agent: false,
        },
        (res) => {
          res.resume();
          res.once('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.once('error', reject);
      let i = 0;
      const pump = () => {
        while (i < size / MiB) {
          i++;
          if (!req.write(block)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    assert.equal(status, 201);
    const peak = peakRss(w.proc.pid!);
    t.diagnostic(
      `wharf VmHWM before ${Math.round(before / MiB)} MiB, after a 512 MiB push ${Math.round(peak / MiB)} MiB`,
    );
    assert.ok(peak < 256 * MiB, `peak RSS ${Math.round(peak / MiB)} MiB`);
    const head = await fetch(`${w.url}/v2/s3/huge/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), String(size));
  });

  test(
    'the bucket is shared with CNCF Distribution 2.8 both ways',
    { skip: DOCKER_REGISTRY_BIN ? undefined : DOCKER_REGISTRY_MISSING },
    async () => {
      const dist = await startDistributionS3(
        DOCKER_REGISTRY_BIN!,
        `version: 0.1
log:
  level: warn
storage:
${s3Storage(s3, bucket)}  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{{port}}
  secret: e2e-replicas-secret
`,
        work,
      );
      try {
        // Pushed through wharf above, pulled through Distribution.
        const out1 = scratch('dist-pull');
        await copy(docker(dist, 's3/app:multi'), `oci:${out1}:multi`, '--all');
        checkPulled(out1, 'multi', multi);
        // Pushed through Distribution, pulled through wharf.
        const other = layout.image('from-distribution', { os: 'linux', architecture: 'amd64' }, 2);
        layout.tag('dist', other.manifest);
        await copy(`oci:${layout.dir}:dist`, docker(dist, 's3/fromdist:v1'));
        const out2 = scratch('wharf-pull');
        await copy(docker(w, 's3/fromdist:v1'), `oci:${out2}:v1`);
        checkPulled(out2, 'v1', other);
        const m = await fetch(`${w.url}/v2/s3/fromdist/manifests/v1`, { headers: { Accept: MT.ociManifest } });
        assert.equal(m.headers.get('docker-content-digest'), other.manifest.digest);
        assert.ok(readFileSync(join(out2, 'index.json'), 'utf8').includes(other.manifest.digest));
      } finally {
        await dist.stop();
      }
    },
  );
});
