/**
 * Manifests in process: PUT/GET/HEAD/DELETE statuses and headers, and Accept negotiation as Distribution v3's
 * GetManifest does it (registry/handlers/manifests.go): an OCI manifest or index is served only to a client that
 * accepts it (else 404 MANIFEST_UNKNOWN with its message); a Docker schema 2 manifest is served whatever the
 * Accept; a Docker manifest list asked by tag by a client that does not accept lists is answered with its
 * linux/amd64 image (or 400 MANIFEST_INVALID when the client does not accept schema 2 either).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  indexOf,
  MT,
  oneError,
  pushImage,
  pushManifest,
  sha256,
  startTestRegistry,
  type Pushed,
  type TestRegistry,
} from './fixture.test.js';

describe('Accept negotiation', () => {
  let reg: TestRegistry;
  let docker: Pushed;
  let oci: Pushed;
  let list: Pushed;
  let index: Pushed;

  before(async () => {
    reg = await startTestRegistry();
    docker = await pushImage(reg, 'n/r', 'docker', MT.dockerManifest);
    oci = await pushImage(reg, 'n/r', 'oci', MT.ociManifest);
    list = await pushManifest(reg, 'n/r', 'list', indexOf(MT.dockerList, [docker]), MT.dockerList);
    index = await pushManifest(reg, 'n/r', 'index', indexOf(MT.ociIndex, [oci]), MT.ociIndex);
    await pushManifest(
      reg,
      'n/r',
      'arm',
      indexOf(MT.dockerList, [docker], [{ architecture: 'arm64', os: 'linux' }]),
      MT.dockerList,
    );
  });
  after(() => reg.close());

  async function get(ref: string, accept?: string | string[], method = 'GET') {
    return reg.req(method, `/v2/n/r/manifests/${ref}`, { headers: accept === undefined ? {} : { Accept: accept } });
  }

  function assertServed(r: Awaited<ReturnType<typeof get>>, m: Pushed, method = 'GET'): void {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['content-type'], m.mediaType);
    assert.equal(r.headers['content-length'], String(m.bytes.length));
    assert.equal(r.headers['docker-content-digest'], m.digest);
    assert.equal(r.headers.etag, `"${m.digest}"`);
    assert.deepEqual(r.body, method === 'HEAD' ? Buffer.alloc(0) : m.bytes);
  }

  const ALL = [undefined, '*/*', MT.dockerManifest, MT.dockerList, MT.ociManifest, MT.ociIndex];

  test('a Docker schema 2 manifest is served whatever the client accepts', async () => {
    for (const accept of ALL) {
      assertServed(await get('docker', accept), docker);
      assertServed(await get(docker.digest, accept), docker);
    }
  });

  test("an OCI manifest only to a client accepting it; otherwise 404 MANIFEST_UNKNOWN with Distribution's message", async () => {
    for (const accept of ALL) {
      const r = await get('oci', accept);
      if (accept === MT.ociManifest) {
        assertServed(r, oci);
        continue;
      }
      assert.equal(r.status, 404, String(accept));
      assert.equal(
        r.text,
        '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"OCI manifest found, but accept header does not support OCI manifests"}]}\n',
      );
    }
    assert.equal((await get(oci.digest)).status, 404, 'by digest too');
  });

  test('an OCI index only to a client accepting it', async () => {
    for (const accept of ALL) {
      const r = await get('index', accept);
      if (accept === MT.ociIndex) {
        assertServed(r, index);
        continue;
      }
      assert.equal(r.status, 404, String(accept));
      assert.deepEqual(oneError(r), {
        code: 'MANIFEST_UNKNOWN',
        message: 'OCI index found, but accept header does not support OCI indexes',
      });
    }
  });

  test('a Docker list by tag to an old client: its linux/amd64 image, or 400 when schema 2 is not accepted either', async () => {
    assertServed(await get('list', MT.dockerList), list);
    assertServed(await get('list', MT.dockerManifest), docker);
    assertServed(await get('list', MT.dockerManifest, 'HEAD'), docker, 'HEAD');
    for (const accept of [undefined, '*/*', MT.ociManifest, MT.ociIndex]) {
      const r = await get('list', accept);
      assert.equal(r.status, 400, String(accept));
      assert.deepEqual(oneError(r), { code: 'MANIFEST_INVALID', message: 'Schema 2 manifest not supported by client' });
    }
    // No linux/amd64 image to fall back to.
    const arm = await get('arm', MT.dockerManifest);
    assert.equal(arm.status, 404);
    assert.deepEqual(oneError(arm), { code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' });
    // By digest the list itself is served: the rewrite is for tags only.
    assertServed(await get(list.digest, MT.dockerManifest), list);
  });

  test('Accept is a list: parameters ignored, case-insensitive, several headers combined', async () => {
    assertServed(await get('oci', `text/html, ${MT.ociManifest.toUpperCase()};q=0.5`), oci);
    assertServed(await get('oci', [MT.dockerManifest, MT.ociManifest]), oci);
    assertServed(await get('index', [MT.ociManifest, `${MT.ociIndex} ; q=0.1`]), index);
    assert.equal((await get('oci', `${MT.ociManifest}x`)).status, 404);
  });

  test('If-None-Match with the digest is 304 with no body', async () => {
    for (const inm of [docker.digest, `"${docker.digest}"`]) {
      const r = await reg.req('GET', '/v2/n/r/manifests/docker', { headers: { 'If-None-Match': inm } });
      assert.equal(r.status, 304);
      assert.equal(r.body.length, 0);
    }
  });
});

describe('manifest PUT, GET and DELETE', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry();
  });
  after(() => reg.close());

  test('PUT by tag: 201, Location by digest, Docker-Content-Digest; the tag and the digest both resolve', async () => {
    const m = await pushImage(reg, 'm/put', 'v1', MT.dockerManifest);
    const again = await reg.req('PUT', '/v2/m/put/manifests/v1', {
      body: m.bytes,
      headers: { 'Content-Type': MT.dockerManifest },
    });
    assert.equal(again.status, 201);
    assert.equal(again.headers['docker-content-digest'], m.digest);
    assert.equal(new URL(String(again.headers.location)).pathname, `/v2/m/put/manifests/${m.digest}`);
    assert.equal(again.headers['content-length'], '0');
    assert.equal((await reg.req('HEAD', `/v2/m/put/manifests/${m.digest}`)).headers['docker-content-digest'], m.digest);
    assert.deepEqual((await reg.req('GET', '/v2/m/put/tags/list')).json(), { name: 'm/put', tags: ['v1'] });
  });

  test('PUT by digest: the digest must match the body (400 DIGEST_INVALID); no tag is created', async () => {
    const m = await pushImage(reg, 'm/digest', 'base', MT.dockerManifest);
    const byDigest = await reg.req('PUT', `/v2/m/digest/manifests/${m.digest}`, {
      body: m.bytes,
      headers: { 'Content-Type': MT.dockerManifest },
    });
    assert.equal(byDigest.status, 201);
    const wrong = await reg.req('PUT', `/v2/m/digest/manifests/${sha256('other')}`, {
      body: m.bytes,
      headers: { 'Content-Type': MT.dockerManifest },
    });
    assert.equal(wrong.status, 400);
    assert.equal(oneError(wrong).code, 'DIGEST_INVALID');
    assert.deepEqual((await reg.req('GET', '/v2/m/digest/tags/list')).json().tags, ['base']);
  });

  test('PUT with an invalid tag is 400 TAG_INVALID; GET or DELETE of one is 404 MANIFEST_UNKNOWN', async () => {
    const m = await pushImage(reg, 'm/tag', 'ok', MT.dockerManifest);
    const bad = '-starts-with-dash';
    const put = await reg.req('PUT', `/v2/m/tag/manifests/${bad}`, {
      body: m.bytes,
      headers: { 'Content-Type': MT.dockerManifest },
    });
    assert.equal(put.status, 400);
    assert.deepEqual(oneError(put), {
      code: 'TAG_INVALID',
      message: 'manifest tag did not match URI',
      detail: { tag: bad },
    });
    for (const method of ['GET', 'DELETE']) {
      const r = await reg.req(method, `/v2/m/tag/manifests/${bad}`);
      assert.equal(r.status, 404, method);
      assert.equal(oneError(r).code, 'MANIFEST_UNKNOWN');
    }
  });

  test('an unknown tag or digest is 404 MANIFEST_UNKNOWN; a malformed digest 400 DIGEST_INVALID', async () => {
    await pushImage(reg, 'm/unknown', 'present', MT.dockerManifest);
    assert.equal(oneError(await reg.req('GET', '/v2/m/unknown/manifests/absent')).code, 'MANIFEST_UNKNOWN');
    const byDigest = await reg.req('GET', `/v2/m/unknown/manifests/${sha256('absent')}`);
    assert.equal(byDigest.status, 404);
    assert.equal(oneError(byDigest).code, 'MANIFEST_UNKNOWN');
    const head = await reg.req('HEAD', '/v2/m/unknown/manifests/absent');
    assert.equal(head.status, 404);
    assert.equal(head.body.length, 0);
    assert.equal(oneError(await reg.req('GET', '/v2/m/unknown/manifests/sha256:abc')).code, 'DIGEST_INVALID');
  });

  test('every missing blob is reported: 400 with one MANIFEST_BLOB_UNKNOWN per digest, nothing stored', async () => {
    const a = sha256('missing config');
    const b = sha256('missing layer');
    const m = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: a, size: 1 },
      layers: [{ mediaType: MT.ociLayer, digest: b, size: 1 }],
    };
    const r = await reg.req('PUT', '/v2/m/missing/manifests/v1', {
      body: JSON.stringify(m),
      headers: { 'Content-Type': MT.ociManifest },
    });
    assert.equal(r.status, 400);
    assert.equal(
      r.text,
      `{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"${a}"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"${b}"}]}\n`,
    );
    assert.equal((await reg.req('GET', '/v2/m/missing/tags/list')).status, 404);
  });

  test('an index whose child is not in the repository is 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const child = await pushImage(reg, 'm/elsewhere', 'x', MT.ociManifest);
    const r = await reg.req('PUT', '/v2/m/index/manifests/v1', {
      body: JSON.stringify(indexOf(MT.ociIndex, [child])),
      headers: { 'Content-Type': MT.ociIndex },
    });
    assert.equal(r.status, 400);
    assert.deepEqual(oneError(r), {
      code: 'MANIFEST_BLOB_UNKNOWN',
      message: 'blob unknown to registry',
      detail: child.digest,
    });
  });

  test('a body over 4 MiB is 400 MANIFEST_INVALID; schema 1 is 400 MANIFEST_INVALID', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const r = await reg.req('PUT', '/v2/m/big/manifests/v1', {
      body: big,
      headers: { 'Content-Type': MT.ociManifest },
    });
    assert.equal(r.status, 400);
    assert.deepEqual(oneError(r), {
      code: 'MANIFEST_INVALID',
      message: 'manifest is larger than 4194304 bytes',
      detail: { limit: 4194304 },
    });
    const v1 = { schemaVersion: 1, name: 'm/old', tag: 'v1', architecture: 'amd64', fsLayers: [], history: [] };
    const old = await reg.req('PUT', '/v2/m/old/manifests/v1', {
      body: JSON.stringify(v1),
      headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' },
    });
    assert.equal(old.status, 400);
    assert.equal(oneError(old).code, 'MANIFEST_INVALID');
  });

  test('DELETE by tag untags (202); by digest removes the manifest and its tags (202); then 404', async () => {
    const m = await pushImage(reg, 'm/del', 'one', MT.dockerManifest);
    await pushManifest(reg, 'm/del', 'two', m.bytes.toString(), MT.dockerManifest);
    const untag = await reg.req('DELETE', '/v2/m/del/manifests/one');
    assert.equal(untag.status, 202);
    assert.deepEqual((await reg.req('GET', '/v2/m/del/tags/list')).json().tags, ['two']);
    assert.equal((await reg.req('GET', `/v2/m/del/manifests/${m.digest}`)).status, 200, 'the manifest stays');
    const del = await reg.req('DELETE', `/v2/m/del/manifests/${m.digest}`);
    assert.equal(del.status, 202);
    assert.equal(oneError(await reg.req('GET', '/v2/m/del/manifests/two')).code, 'MANIFEST_UNKNOWN');
    assert.equal(oneError(await reg.req('GET', `/v2/m/del/manifests/${m.digest}`)).code, 'MANIFEST_UNKNOWN');
    assert.equal(oneError(await reg.req('DELETE', `/v2/m/del/manifests/${m.digest}`)).code, 'MANIFEST_UNKNOWN');
  });

  test('DELETE without storage.delete.enabled is 405 UNSUPPORTED', async () => {
    const ro = await startTestRegistry({ storage: { delete: { enabled: false } } });
    try {
      const m = await pushImage(ro, 'm/nodel', 'v1', MT.dockerManifest);
      for (const ref of ['v1', m.digest]) {
        const r = await ro.req('DELETE', `/v2/m/nodel/manifests/${ref}`);
        assert.equal(r.status, 405);
        assert.equal(oneError(r).code, 'UNSUPPORTED');
      }
      assert.equal((await ro.req('GET', '/v2/m/nodel/manifests/v1')).status, 200);
    } finally {
      await ro.close();
    }
  });
});
