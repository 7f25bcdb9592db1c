/**
 * Pull: manifests and blobs by tag and digest, their headers, conditional and ranged requests, Distribution's
 * Accept negotiation (OCI types need an OCI Accept; manifest lists fall back to linux/amd64 for tags) and the
 * exact error bodies for unknown content. Covers the distribution-spec conformance "pull" workflow.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  makeImage,
  OCI_INDEX,
  OCI_MANIFEST,
  pushBlob,
  pushManifest,
  sha256,
  startWharf,
  type Wharf,
} from './harness.js';
import { assertError, call, DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LIST, DOCKER_MANIFEST } from './api.js';

const REPO = 'pull/img';
let w: Wharf;
/** Bytes exactly as pushed, by name. */
const m: Record<string, { body: string; digest: string }> = {};
let layerBytes: Buffer;
let layer: string;

async function put(name: string, ref: string, manifest: unknown, mediaType: string): Promise<void> {
  const body = JSON.stringify(manifest);
  const r = await pushManifest(w.url, REPO, ref, body, mediaType);
  await r.arrayBuffer();
  assert.equal(r.status, 201, `push ${name}`);
  m[name] = { body, digest: sha256(body) };
}

before(async () => {
  w = await startWharf();
  const img = await makeImage(w.url, REPO, 'pull');
  await put('oci', 'v1', img.manifest, OCI_MANIFEST);

  layerBytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  layer = await pushBlob(w.url, REPO, layerBytes);
  const dockerCfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
  const cfg = await pushBlob(w.url, REPO, dockerCfg);
  const docker = (arch: string) => ({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: { mediaType: DOCKER_CONFIG, digest: cfg, size: dockerCfg.length },
    layers: [{ mediaType: DOCKER_LAYER, digest: layer, size: layerBytes.length }],
    annotations: { arch },
  });
  await put('amd64', 'amd64', docker('amd64'), DOCKER_MANIFEST);
  await put('arm64', 'arm64', docker('arm64'), DOCKER_MANIFEST);
  const child = (k: string, arch: string) => ({
    mediaType: DOCKER_MANIFEST,
    digest: m[k].digest,
    size: m[k].body.length,
    platform: { architecture: arch, os: 'linux' },
  });
  await put(
    'list',
    'list',
    { schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [child('arm64', 'arm64'), child('amd64', 'amd64')] },
    DOCKER_LIST,
  );
  await put(
    'armonly',
    'armonly',
    { schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [child('arm64', 'arm64')] },
    DOCKER_LIST,
  );
  await put(
    'index',
    'index',
    {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: m.oci.digest, size: m.oci.body.length }],
    },
    OCI_INDEX,
  );
});
after(async () => {
  await w?.cleanup();
});

test('GET /v2/ answers 200 {} with Docker-Distribution-API-Version', async () => {
  const r = await call(w.url, '/v2/');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('docker-distribution-api-version'), 'registry/2.0');
  assert.deepEqual(JSON.parse(r.text), {});
});

describe('manifests', () => {
  for (const by of ['tag', 'digest'] as const) {
    test(`GET by ${by} returns the bytes as pushed with Content-Type, Content-Length, Docker-Content-Digest and ETag`, async () => {
      const ref = by === 'tag' ? 'v1' : m.oci.digest;
      const r = await call(w.url, `/v2/${REPO}/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(r.status, 200);
      assert.equal(r.text, m.oci.body);
      assert.equal(r.headers.get('content-type'), OCI_MANIFEST);
      assert.equal(r.headers.get('content-length'), String(Buffer.byteLength(m.oci.body)));
      assert.equal(r.headers.get('docker-content-digest'), m.oci.digest);
      assert.equal(r.headers.get('etag'), `"${m.oci.digest}"`);
      assert.equal(r.headers.get('docker-distribution-api-version'), 'registry/2.0');
    });

    test(`HEAD by ${by} has GET's headers and no body`, async () => {
      const ref = by === 'tag' ? 'v1' : m.oci.digest;
      const r = await call(w.url, `/v2/${REPO}/manifests/${ref}`, {
        method: 'HEAD',
        headers: { Accept: OCI_MANIFEST },
      });
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 0);
      assert.equal(r.headers.get('content-type'), OCI_MANIFEST);
      assert.equal(r.headers.get('content-length'), String(Buffer.byteLength(m.oci.body)));
      assert.equal(r.headers.get('docker-content-digest'), m.oci.digest);
    });
  }

  test('If-None-Match with the ETag answers 304 without a body; another ETag gets 200', async () => {
    const hit = await call(w.url, `/v2/${REPO}/manifests/v1`, {
      headers: { Accept: OCI_MANIFEST, 'If-None-Match': `"${m.oci.digest}"` },
    });
    assert.equal(hit.status, 304);
    assert.equal(hit.body.length, 0);
    const miss = await call(w.url, `/v2/${REPO}/manifests/v1`, {
      headers: { Accept: OCI_MANIFEST, 'If-None-Match': `"${m.amd64.digest}"` },
    });
    assert.equal(miss.status, 200);
  });

  test('an OCI manifest without an OCI Accept is MANIFEST_UNKNOWN (Distribution v3), by tag and by digest', async () => {
    for (const ref of ['v1', m.oci.digest]) {
      for (const accept of [undefined, DOCKER_MANIFEST]) {
        const r = await call(w.url, `/v2/${REPO}/manifests/${ref}`, { headers: accept ? { Accept: accept } : {} });
        assert.equal(r.status, 404);
        assert.equal(
          r.text,
          '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"OCI manifest found, but accept header does not support OCI manifests"}]}\n',
        );
      }
    }
  });

  test('Accept is read from every header, comma lists and parameters', async () => {
    const r1 = await call(w.url, `/v2/${REPO}/manifests/v1`, {
      headers: { Accept: `${DOCKER_MANIFEST}, ${OCI_MANIFEST};q=0.5` },
    });
    assert.equal(r1.status, 200);
    const h = new Headers();
    h.append('Accept', DOCKER_MANIFEST);
    h.append('Accept', OCI_MANIFEST);
    const r2 = await call(w.url, `/v2/${REPO}/manifests/v1`, { headers: h });
    assert.equal(r2.status, 200);
    assert.equal(r2.headers.get('docker-content-digest'), m.oci.digest);
  });

  test('an OCI index without an index Accept is MANIFEST_UNKNOWN; with it, 200', async () => {
    const no = await call(w.url, `/v2/${REPO}/manifests/index`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(no.status, 404);
    assert.equal(
      no.text,
      '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"OCI index found, but accept header does not support OCI indexes"}]}\n',
    );
    const yes = await call(w.url, `/v2/${REPO}/manifests/index`, { headers: { Accept: OCI_INDEX } });
    assert.equal(yes.status, 200);
    assert.equal(yes.text, m.index.body);
    assert.equal(yes.headers.get('content-type'), OCI_INDEX);
  });

  test('a Docker schema 2 manifest is served whatever the Accept', async () => {
    const r = await call(w.url, `/v2/${REPO}/manifests/amd64`);
    assert.equal(r.status, 200);
    assert.equal(r.text, m.amd64.body);
    assert.equal(r.headers.get('content-type'), DOCKER_MANIFEST);
  });

  test('a manifest list by tag, for a client that does not accept lists, is its linux/amd64 image', async () => {
    const r = await call(w.url, `/v2/${REPO}/manifests/list`, { headers: { Accept: DOCKER_MANIFEST } });
    assert.equal(r.status, 200);
    assert.equal(r.text, m.amd64.body);
    assert.equal(r.headers.get('docker-content-digest'), m.amd64.digest);
    assert.equal(r.headers.get('etag'), `"${m.amd64.digest}"`);
    assert.equal(r.headers.get('content-type'), DOCKER_MANIFEST);
  });

  test('a manifest list is served as is when accepted, or when addressed by digest', async () => {
    const accepted = await call(w.url, `/v2/${REPO}/manifests/list`, {
      headers: { Accept: `${DOCKER_LIST},${DOCKER_MANIFEST}` },
    });
    assert.equal(accepted.status, 200);
    assert.equal(accepted.text, m.list.body);
    assert.equal(accepted.headers.get('content-type'), DOCKER_LIST);
    const byDigest = await call(w.url, `/v2/${REPO}/manifests/${m.list.digest}`, {
      headers: { Accept: DOCKER_MANIFEST },
    });
    assert.equal(byDigest.status, 200);
    assert.equal(byDigest.headers.get('docker-content-digest'), m.list.digest);
  });

  test('the list fallback needs schema 2 support and an amd64 child', async () => {
    const noAccept = await call(w.url, `/v2/${REPO}/manifests/list`);
    assert.equal(noAccept.status, 400);
    assert.equal(
      noAccept.text,
      '{"errors":[{"code":"MANIFEST_INVALID","message":"Schema 2 manifest not supported by client"}]}\n',
    );
    const noAmd64 = await call(w.url, `/v2/${REPO}/manifests/armonly`, { headers: { Accept: DOCKER_MANIFEST } });
    assertError(noAmd64, 404, 'MANIFEST_UNKNOWN');
  });

  test('unknown tag and unknown digest: 404 MANIFEST_UNKNOWN with Distribution bodies; HEAD has no body', async () => {
    const tag = await call(w.url, `/v2/${REPO}/manifests/nope`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(tag.status, 404);
    assert.equal(
      tag.text,
      '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}\n',
    );
    const d = sha256('no such manifest');
    const dig = await call(w.url, `/v2/${REPO}/manifests/${d}`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(dig.status, 404);
    assert.equal(
      dig.text,
      `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Name":"${REPO}","Revision":"${d}"}}]}\n`,
    );
    const head = await call(w.url, `/v2/${REPO}/manifests/nope`, { method: 'HEAD' });
    assert.equal(head.status, 404);
    assert.equal(head.body.length, 0);
  });

  test('a manifest is not visible from another repository', async () => {
    const r = await call(w.url, `/v2/pull/other/manifests/${m.oci.digest}`, { headers: { Accept: OCI_MANIFEST } });
    assertError(r, 404, 'MANIFEST_UNKNOWN');
  });

  test('a malformed digest reference is a 400 with a spec error code (conformance "error codes")', async () => {
    const r = await call(w.url, `/v2/${REPO}/manifests/sha256:totallywrong`, { headers: { Accept: OCI_MANIFEST } });
    assertError(r, 400, 'DIGEST_INVALID');
  });
});

describe('blobs', () => {
  test('GET streams the blob with digest, ETag, caching and range headers', async () => {
    const r = await call(w.url, `/v2/${REPO}/blobs/${layer}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, layerBytes);
    assert.equal(r.headers.get('content-length'), String(layerBytes.length));
    assert.equal(r.headers.get('docker-content-digest'), layer);
    assert.equal(r.headers.get('etag'), `"${layer}"`);
    assert.equal(r.headers.get('cache-control'), 'max-age=31536000');
    assert.equal(r.headers.get('accept-ranges'), 'bytes');
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
  });

  test('HEAD has the size and digest and no body', async () => {
    const r = await call(w.url, `/v2/${REPO}/blobs/${layer}`, { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    assert.equal(r.headers.get('content-length'), String(layerBytes.length));
    assert.equal(r.headers.get('docker-content-digest'), layer);
  });

  test('If-None-Match with the ETag answers 304', async () => {
    const r = await call(w.url, `/v2/${REPO}/blobs/${layer}`, { headers: { 'If-None-Match': `"${layer}"` } });
    assert.equal(r.status, 304);
    assert.equal(r.body.length, 0);
  });

  const size = 1000;
  for (const [range, start, end] of [
    ['bytes=2-5', 2, 5],
    ['bytes=990-', 990, 999],
    ['bytes=-3', 997, 999],
    ['bytes=995-5000', 995, 999],
  ] as const) {
    test(`Range ${range} answers 206 with Content-Range and exactly those bytes`, async () => {
      const r = await call(w.url, `/v2/${REPO}/blobs/${layer}`, { headers: { Range: range } });
      assert.equal(r.status, 206);
      assert.equal(r.headers.get('content-range'), `bytes ${start}-${end}/${size}`);
      assert.equal(r.headers.get('content-length'), String(end - start + 1));
      assert.deepEqual(r.body, layerBytes.subarray(start, end + 1));
      const head = await call(w.url, `/v2/${REPO}/blobs/${layer}`, { method: 'HEAD', headers: { Range: range } });
      assert.equal(head.status, 206);
      assert.equal(head.headers.get('content-range'), `bytes ${start}-${end}/${size}`);
    });
  }

  test('an unsatisfiable Range is 416 RANGE_INVALID with Content-Range bytes */size', async () => {
    for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
      const r = await call(w.url, `/v2/${REPO}/blobs/${layer}`, { headers: { Range: range } });
      assertError(r, 416, 'RANGE_INVALID');
      assert.equal(r.headers.get('content-range'), `bytes */${size}`);
    }
  });

  test('unknown blob: 404 BLOB_UNKNOWN with the digest as detail; HEAD 404 without body', async () => {
    const d = sha256('no such blob');
    const r = await call(w.url, `/v2/${REPO}/blobs/${d}`);
    assert.equal(r.status, 404);
    assert.equal(r.text, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"${d}"}]}\n`);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    const head = await call(w.url, `/v2/${REPO}/blobs/${d}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
    assert.equal(head.body.length, 0);
  });

  test('a blob is visible only in repositories that link it', async () => {
    const r = await call(w.url, `/v2/pull/other/blobs/${layer}`);
    assertError(r, 404, 'BLOB_UNKNOWN');
  });
});
