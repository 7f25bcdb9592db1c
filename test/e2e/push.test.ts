/**
 * Push: blob upload sessions (monolithic, streamed, chunked, cancelled, broken, forged), cross-repository and
 * automatic mounts, and manifest PUT of every supported type with Distribution's validation errors.
 * Covers the distribution-spec conformance "push" workflow, its cross-repository mount part included.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  makeImage,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  pushBlob,
  pushManifest,
  sha256,
  startWharf,
  type Wharf,
} from './harness.js';
import {
  assertError,
  call,
  DOCKER_CONFIG,
  DOCKER_LAYER,
  DOCKER_LIST,
  DOCKER_MANIFEST,
  EMPTY_DIGEST,
  OCI_EMPTY,
  rawHttp,
  rel,
  startSession,
  withQuery,
} from './api.js';

let w: Wharf;
before(async () => {
  w = await startWharf();
});
after(async () => {
  await w?.cleanup();
});

const octet = { 'Content-Type': 'application/octet-stream' };

async function blobStatus(name: string, digest: string): Promise<number> {
  return (await call(w.url, `/v2/${name}/blobs/${digest}`, { method: 'HEAD' })).status;
}

describe('blob uploads', () => {
  test('POST opens a session: 202, Location with _state, Range 0-0, Docker-Upload-UUID, empty body', async () => {
    const r = await call(w.url, '/v2/push/a/blobs/uploads/', { method: 'POST' });
    assert.equal(r.status, 202);
    const uuid = r.headers.get('docker-upload-uuid');
    assert.match(uuid ?? '', /^[0-9a-f-]{36}$/);
    const loc = rel(r.headers.get('location'));
    assert.ok(loc.startsWith(`/v2/push/a/blobs/uploads/${uuid}?`), loc);
    assert.match(loc, /[?&]_state=/);
    assert.equal(r.headers.get('range'), '0-0');
    assert.equal(r.headers.get('content-length'), '0');
    assert.equal(r.body.length, 0);
  });

  test('single POST with ?digest= stores the blob: 201 with its Location and Docker-Content-Digest', async () => {
    const data = Buffer.from('monolithic post');
    const d = sha256(data);
    const r = await call(w.url, `/v2/push/a/blobs/uploads/?digest=${d}`, {
      method: 'POST',
      body: data,
      headers: octet,
    });
    assert.equal(r.status, 201);
    assert.equal(rel(r.headers.get('location')), `/v2/push/a/blobs/${d}`);
    assert.equal(r.headers.get('docker-content-digest'), d);
    const get = await call(w.url, `/v2/push/a/blobs/${d}`);
    assert.deepEqual(get.body, data);
  });

  test('POST then PUT with the whole blob as body: 201', async () => {
    const data = Buffer.from('post then put');
    const loc = await startSession(w.url, 'push/a');
    const r = await call(w.url, withQuery(loc, 'digest', sha256(data)), { method: 'PUT', body: data, headers: octet });
    assert.equal(r.status, 201);
    assert.equal(rel(r.headers.get('location')), `/v2/push/a/blobs/${sha256(data)}`);
    assert.deepEqual((await call(w.url, `/v2/push/a/blobs/${sha256(data)}`)).body, data);
  });

  test('streamed PATCH without Content-Range, then PUT without body: 202 with Range, then 201', async () => {
    const data = Buffer.from('streamed blob body, 32 bytes ok!');
    const loc = await startSession(w.url, 'push/a');
    const p = await call(w.url, loc, { method: 'PATCH', body: data, headers: octet });
    assert.equal(p.status, 202);
    assert.equal(p.headers.get('range'), `0-${data.length - 1}`);
    assert.ok(p.headers.get('docker-upload-uuid'));
    const put = await call(w.url, withQuery(rel(p.headers.get('location')), 'digest', sha256(data)), {
      method: 'PUT',
      headers: { 'Content-Length': '0' },
    });
    assert.equal(put.status, 201);
    assert.deepEqual((await call(w.url, `/v2/push/a/blobs/${sha256(data)}`)).body, data);
  });

  test('chunked PATCH with Content-Range, GET status 204, retried and out-of-order chunks 416, final PUT 201', async () => {
    const data = Buffer.from('0123456789abcdefghij');
    const [c1, c2, c3] = [data.subarray(0, 8), data.subarray(8, 15), data.subarray(15)];
    const first = await startSession(w.url, 'push/chunks');

    const outOfOrder = await call(w.url, first, {
      method: 'PATCH',
      body: c2,
      headers: { ...octet, 'Content-Range': '8-14' },
    });
    assertError(outOfOrder, 416, 'RANGE_INVALID');

    const p1 = await call(w.url, first, { method: 'PATCH', body: c1, headers: { ...octet, 'Content-Range': '0-7' } });
    assert.equal(p1.status, 202);
    assert.equal(p1.headers.get('range'), '0-7');

    const retry = await call(w.url, first, {
      method: 'PATCH',
      body: c1,
      headers: { ...octet, 'Content-Range': '0-7' },
    });
    assert.equal(retry.status, 416);

    const status = await call(w.url, first);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-7');
    assert.ok(status.headers.get('location'));
    assert.equal(status.headers.get('docker-upload-uuid'), p1.headers.get('docker-upload-uuid'));

    const p2 = await call(w.url, rel(status.headers.get('location')), {
      method: 'PATCH',
      body: c2,
      headers: { ...octet, 'Content-Range': '8-14' },
    });
    assert.equal(p2.status, 202);
    assert.equal(p2.headers.get('range'), '0-14');

    const put = await call(w.url, withQuery(rel(p2.headers.get('location')), 'digest', sha256(data)), {
      method: 'PUT',
      body: c3,
      headers: { ...octet, 'Content-Range': '15-19' },
    });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('docker-content-digest'), sha256(data));
    assert.deepEqual((await call(w.url, `/v2/push/chunks/blobs/${sha256(data)}`)).body, data);
  });

  test('DELETE cancels a session: 204, then the session is unknown', async () => {
    const loc = await startSession(w.url, 'push/a');
    const del = await call(w.url, loc, { method: 'DELETE' });
    assert.equal(del.status, 204);
    assertError(await call(w.url, loc), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('a wrong digest is DIGEST_INVALID and commits nothing', async () => {
    const data = Buffer.from('real content');
    const claimed = sha256('claimed content');
    const loc = await startSession(w.url, 'push/wrong');
    const r = await call(w.url, withQuery(loc, 'digest', claimed), { method: 'PUT', body: data, headers: octet });
    assertError(r, 400, 'DIGEST_INVALID');
    assert.equal(await blobStatus('push/wrong', claimed), 404);
    assert.equal(await blobStatus('push/wrong', sha256(data)), 404);
    const mono = await call(w.url, `/v2/push/wrong/blobs/uploads/?digest=${claimed}`, {
      method: 'POST',
      body: data,
      headers: octet,
    });
    assertError(mono, 400, 'DIGEST_INVALID');
    assert.equal(await blobStatus('push/wrong', claimed), 404);
  });

  test('PUT without ?digest= is DIGEST_INVALID', async () => {
    const loc = await startSession(w.url, 'push/a');
    assertError(await call(w.url, loc, { method: 'PUT', body: 'x', headers: octet }), 400, 'DIGEST_INVALID');
  });

  test('a body shorter than its Content-Length appends nothing to the session', async () => {
    const loc = await startSession(w.url, 'push/short');
    await rawHttp(
      w.port,
      `PATCH ${loc} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\nonly ten b`,
    );
    const status = await call(w.url, loc);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-0');
    // The server is still healthy.
    assert.equal((await call(w.url, '/v2/')).status, 200);
  });

  test('a short monolithic POST stores no blob', async () => {
    const data = 'x'.repeat(100);
    const d = sha256(data);
    await rawHttp(
      w.port,
      `POST /v2/push/short/blobs/uploads/?digest=${d} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n${data.slice(0, 40)}`,
    );
    assert.equal(await blobStatus('push/short', d), 404);
  });

  test('a chunk longer than its Content-Range is refused and not appended', async () => {
    const loc = await startSession(w.url, 'push/long');
    const r = await call(w.url, loc, {
      method: 'PATCH',
      body: '0123456789',
      headers: { ...octet, 'Content-Range': '0-4' },
    });
    assertError(r, 416, 'RANGE_INVALID');
    assert.equal((await call(w.url, loc)).headers.get('range'), '0-0');
  });

  test('an unknown upload id is BLOB_UPLOAD_UNKNOWN for GET, PATCH, PUT and DELETE', async () => {
    const loc = '/v2/push/a/blobs/uploads/6f0b3c3e-2c1a-4c55-9a55-2d3f1c0e9b7a';
    for (const [method, path] of [
      ['GET', loc],
      ['PATCH', loc],
      ['PUT', withQuery(loc, 'digest', sha256('x'))],
      ['DELETE', loc],
    ] as const) {
      const r = await call(w.url, path, {
        method,
        ...(method === 'PATCH' || method === 'PUT' ? { body: 'x', headers: octet } : {}),
      });
      assertError(r, 404, 'BLOB_UPLOAD_UNKNOWN');
    }
  });

  test('a tampered or foreign _state is BLOB_UPLOAD_INVALID', async () => {
    const loc = await startSession(w.url, 'push/state');
    const u = new URL(loc, w.url);
    const state = u.searchParams.get('_state')!;
    const flipped = state.slice(0, 5) + (state[5] === 'A' ? 'B' : 'A') + state.slice(6);
    u.searchParams.set('_state', flipped);
    assertError(
      await call(w.url, `${u.pathname}${u.search}`, { method: 'PATCH', body: 'x', headers: octet }),
      404,
      'BLOB_UPLOAD_INVALID',
    );
    const other = new URL(await startSession(w.url, 'push/state'), w.url);
    u.searchParams.set('_state', other.searchParams.get('_state')!);
    assertError(
      await call(w.url, `${u.pathname}${u.search}`, { method: 'PATCH', body: 'x', headers: octet }),
      404,
      'BLOB_UPLOAD_INVALID',
    );
    // The genuine state still works.
    assert.equal((await call(w.url, loc, { method: 'PATCH', body: 'x', headers: octet })).status, 202);
  });
});

describe('mounts', () => {
  test('mount with from: 201, Location in the target repository, blob readable there', async () => {
    const d = await pushBlob(w.url, 'mount/src', 'mount me');
    assert.equal(await blobStatus('mount/dst', d), 404);
    const r = await call(w.url, `/v2/mount/dst/blobs/uploads/?mount=${d}&from=mount/src`, { method: 'POST' });
    assert.equal(r.status, 201);
    assert.equal(rel(r.headers.get('location')), `/v2/mount/dst/blobs/${d}`);
    assert.equal(r.headers.get('docker-content-digest'), d);
    assert.equal((await call(w.url, `/v2/mount/dst/blobs/${d}`)).text, 'mount me');
  });

  test('mount from a repository that lacks the blob falls back to a new session (202)', async () => {
    const d = await pushBlob(w.url, 'mount/has', 'only here');
    const r = await call(w.url, `/v2/mount/dst2/blobs/uploads/?mount=${d}&from=mount/empty`, { method: 'POST' });
    assert.equal(r.status, 202);
    assert.ok(rel(r.headers.get('location')).startsWith('/v2/mount/dst2/blobs/uploads/'));
    assert.equal(await blobStatus('mount/dst2', d), 404);
  });

  test('mount without from: automatic mount (201) for a known blob, a session (202) for an unknown one', async () => {
    const d = await pushBlob(w.url, 'mount/auto-src', 'auto mount');
    const r = await call(w.url, `/v2/mount/auto/blobs/uploads/?mount=${d}`, { method: 'POST' });
    assert.equal(r.status, 201);
    assert.equal((await call(w.url, `/v2/mount/auto/blobs/${d}`)).text, 'auto mount');
    const unknown = await call(w.url, `/v2/mount/auto/blobs/uploads/?mount=${sha256('never pushed')}`, {
      method: 'POST',
    });
    assert.equal(unknown.status, 202);
    assert.ok(rel(unknown.headers.get('location')).startsWith('/v2/mount/auto/blobs/uploads/'));
  });
});

describe('manifest PUT', () => {
  async function put(name: string, ref: string, body: string, type: string) {
    const r = await pushManifest(w.url, name, ref, body, type);
    return { status: r.status, headers: r.headers, text: await r.text(), body: Buffer.alloc(0) };
  }

  test('Docker schema 2 and a Docker manifest list: 201 with Location and digest; bytes come back as pushed', async () => {
    const cfg = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const c = await pushBlob(w.url, 'mf/docker', cfg);
    const l = await pushBlob(w.url, 'mf/docker', 'docker layer');
    const schema2 = JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: DOCKER_MANIFEST,
        config: { mediaType: DOCKER_CONFIG, digest: c, size: cfg.length },
        layers: [{ mediaType: DOCKER_LAYER, digest: l, size: 12 }],
      },
      null,
      3,
    );
    const r = await put('mf/docker', 'v1', schema2, DOCKER_MANIFEST);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get('docker-content-digest'), sha256(schema2));
    assert.equal(rel(r.headers.get('location')), `/v2/mf/docker/manifests/${sha256(schema2)}`);
    const list = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [
        {
          mediaType: DOCKER_MANIFEST,
          digest: sha256(schema2),
          size: Buffer.byteLength(schema2),
          platform: { architecture: 'amd64', os: 'linux' },
        },
      ],
    });
    const rl = await put('mf/docker', 'list', list, DOCKER_LIST);
    assert.equal(rl.status, 201, rl.text);
    const get = await call(w.url, '/v2/mf/docker/manifests/v1');
    assert.equal(get.text, schema2);
    assert.equal(get.headers.get('content-type'), DOCKER_MANIFEST);
  });

  test('OCI manifest, OCI index, and a manifest without layers', async () => {
    const img = await makeImage(w.url, 'mf/oci', 'a');
    assert.equal((await put('mf/oci', 'img', JSON.stringify(img.manifest), OCI_MANIFEST)).status, 201);
    const noLayers = JSON.stringify({ ...img.manifest, layers: [] });
    assert.equal((await put('mf/oci', 'nolayers', noLayers, OCI_MANIFEST)).status, 201);
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: sha256(JSON.stringify(img.manifest)),
          size: JSON.stringify(img.manifest).length,
        },
      ],
    });
    const ri = await put('mf/oci', 'index', index, OCI_INDEX);
    assert.equal(ri.status, 201, ri.text);
    assert.equal((await call(w.url, '/v2/mf/oci/manifests/index', { headers: { Accept: OCI_INDEX } })).text, index);
  });

  test('an artifact with artifactType, the empty config and a subject: 201 with OCI-Subject', async () => {
    const empty = await pushBlob(w.url, 'mf/art', '{}');
    assert.equal(empty, EMPTY_DIGEST);
    const layer = await pushBlob(w.url, 'mf/art', 'signature');
    const subject = sha256('a subject that need not exist');
    const art = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.sig',
      config: { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2, data: 'e30=' },
      layers: [{ mediaType: 'application/vnd.example.sig.v1', digest: layer, size: 9 }],
      subject: { mediaType: OCI_MANIFEST, digest: subject, size: 123 },
    });
    const r = await put('mf/art', sha256(art), art, OCI_MANIFEST);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get('oci-subject'), subject);
    const img = await makeImage(w.url, 'mf/art', 'plain');
    const plain = await put('mf/art', 'plain', JSON.stringify(img.manifest), OCI_MANIFEST);
    assert.equal(plain.headers.get('oci-subject'), null);
  });

  test('odd whitespace and key order are preserved byte for byte', async () => {
    const img = await makeImage(w.url, 'mf/ws', 'ws');
    const body = `\n  {  "layers" : ${JSON.stringify(img.manifest.layers)},\t"config":${JSON.stringify(img.manifest.config)} ,\r\n "schemaVersion":2, "mediaType" : "${OCI_MANIFEST}" }  \n`;
    const r = await put('mf/ws', 'ws', body, OCI_MANIFEST);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get('docker-content-digest'), sha256(body));
    const get = await call(w.url, `/v2/mf/ws/manifests/${sha256(body)}`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(get.text, body);
  });

  test('PUT by digest: the right digest is 201, a wrong one DIGEST_INVALID and nothing stored', async () => {
    const img = await makeImage(w.url, 'mf/bydigest', 'd');
    const body = JSON.stringify(img.manifest);
    const wrong = sha256('other');
    assertError(await put('mf/bydigest', wrong, body, OCI_MANIFEST), 400, 'DIGEST_INVALID');
    assertError(
      await call(w.url, `/v2/mf/bydigest/manifests/${sha256(body)}`, { headers: { Accept: OCI_MANIFEST } }),
      404,
      'MANIFEST_UNKNOWN',
    );
    assert.equal((await put('mf/bydigest', sha256(body), body, OCI_MANIFEST)).status, 201);
  });

  test('a re-pushed tag points at the new manifest', async () => {
    const a = await makeImage(w.url, 'mf/retag', 'one');
    const b = await makeImage(w.url, 'mf/retag', 'two');
    await put('mf/retag', 'latest', JSON.stringify(a.manifest), OCI_MANIFEST);
    await put('mf/retag', 'latest', JSON.stringify(b.manifest), OCI_MANIFEST);
    const get = await call(w.url, '/v2/mf/retag/manifests/latest', { headers: { Accept: OCI_MANIFEST } });
    assert.equal(get.headers.get('docker-content-digest'), sha256(JSON.stringify(b.manifest)));
  });

  test('schema 1 is refused with MANIFEST_INVALID', async () => {
    const s1 = JSON.stringify({
      schemaVersion: 1,
      name: 'mf/s1',
      tag: 'v1',
      architecture: 'amd64',
      fsLayers: [],
      history: [],
    });
    assertError(
      await put('mf/s1', 'v1', s1, 'application/vnd.docker.distribution.manifest.v1+prettyjws'),
      400,
      'MANIFEST_INVALID',
    );
    assertError(
      await put('mf/s1', 'v1', s1, 'application/vnd.docker.distribution.manifest.v1+json'),
      400,
      'MANIFEST_INVALID',
    );
  });

  test('missing config and layers are each MANIFEST_BLOB_UNKNOWN with the digest as detail', async () => {
    const cfg = sha256('missing config');
    const layer = sha256('missing layer');
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: cfg, size: 1 },
      layers: [{ mediaType: OCI_LAYER, digest: layer, size: 1 }],
    });
    const r = await put('mf/missing', 'v1', body, OCI_MANIFEST);
    assert.equal(r.status, 400);
    assert.equal(
      r.text,
      `{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"${cfg}"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"${layer}"}]}\n`,
    );
  });

  test('a blob of another repository does not satisfy a manifest', async () => {
    const img = await makeImage(w.url, 'mf/elsewhere', 'e');
    assertError(await put('mf/here', 'v1', JSON.stringify(img.manifest), OCI_MANIFEST), 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  test('an index with a missing child is MANIFEST_BLOB_UNKNOWN', async () => {
    const child = sha256('missing child');
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: child, size: 10, platform: { architecture: 'amd64', os: 'linux' } },
      ],
    });
    const r = await put('mf/missing', 'idx', index, OCI_INDEX);
    assert.equal(r.status, 400);
    assert.equal(
      r.text,
      `{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"${child}"}]}\n`,
    );
  });

  test('mediaType disagreeing with Content-Type, invalid JSON and wrong shapes are MANIFEST_INVALID', async () => {
    const img = await makeImage(w.url, 'mf/invalid', 'i');
    const oci = JSON.stringify(img.manifest);
    assertError(await put('mf/invalid', 'v1', oci, DOCKER_MANIFEST), 400, 'MANIFEST_INVALID');
    assertError(await put('mf/invalid', 'v1', '{"schemaVersion":2,', OCI_MANIFEST), 400, 'MANIFEST_INVALID');
    assertError(await put('mf/invalid', 'v1', '[]', OCI_MANIFEST), 400, 'MANIFEST_INVALID');
    assertError(
      await put(
        'mf/invalid',
        'v1',
        JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }),
        OCI_MANIFEST,
      ),
      400,
      'MANIFEST_INVALID',
    );
    assertError(
      await call(w.url, '/v2/mf/invalid/manifests/v1', { headers: { Accept: OCI_MANIFEST } }),
      404,
      'MANIFEST_UNKNOWN',
    );
  });

  test('a manifest over 4 MiB is refused and not stored', async () => {
    const img = await makeImage(w.url, 'mf/big', 'b');
    const big = JSON.stringify({ ...img.manifest, annotations: { pad: 'x'.repeat(4 * 1024 * 1024) } });
    const r = await put('mf/big', 'big', big, OCI_MANIFEST);
    assertError(r, 400, 'MANIFEST_INVALID');
    assertError(
      await call(w.url, '/v2/mf/big/manifests/big', { headers: { Accept: OCI_MANIFEST } }),
      404,
      'MANIFEST_UNKNOWN',
    );
    assert.equal((await call(w.url, '/v2/')).status, 200);
  });
});
