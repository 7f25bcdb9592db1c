/**
 * Side by side with CNCF Distribution (the Debian `docker-registry` 2.8.2): the same requests against both,
 * comparing statuses, error bodies and key headers. Where wharf deliberately differs, the test asserts wharf's
 * behaviour and says why. Skipped when the binary is not installed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256, startWharf, type Wharf } from './harness.js';
import { call, hasDistribution, rel, startDistribution, withQuery, type Distribution, type Res } from './api.js';

const skip = hasDistribution() ? false : 'docker-registry not installed (apt-get install docker-registry)';

interface Pair {
  d: Res;
  w: Res;
}

describe('wharf and Distribution answer alike', { skip }, () => {
  let dist: Distribution;
  let w: Wharf;
  const REPO = 'compat/img';
  const cfgBytes = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const layerBytes = Buffer.from('compat layer bytes '.repeat(20));
  const cfg = sha256(cfgBytes);
  const layer = sha256(layerBytes);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: cfg, size: cfgBytes.length },
    layers: [{ mediaType: OCI_LAYER, digest: layer, size: layerBytes.length }],
  });
  const mdigest = sha256(manifest);

  /** The same request on both servers; `path` may depend on the server (e.g. its own upload Location). */
  async function pair(path: string | ((base: string) => string), init: RequestInit = {}): Promise<Pair> {
    const p = (b: string) => (typeof path === 'string' ? path : path(b));
    const [d, ww] = await Promise.all([call(dist.url, p(dist.url), init), call(w.url, p(w.url), init)]);
    return { d, w: ww };
  }

  /** Status, body and the headers that clients read must be the same. */
  function same(p: Pair, headers: string[] = []): void {
    assert.equal(
      p.w.status,
      p.d.status,
      `status: wharf ${p.w.status} ${p.w.text} / distribution ${p.d.status} ${p.d.text}`,
    );
    assert.equal(p.w.text, p.d.text);
    for (const h of ['docker-distribution-api-version', 'content-type', ...headers])
      assert.equal(p.w.headers.get(h), p.d.headers.get(h), h);
  }

  /** Same status and same error codes and messages; `detail` may differ (Distribution often serialises a Go error as `{}`). */
  function sameError(p: Pair): void {
    assert.equal(
      p.w.status,
      p.d.status,
      `status: wharf ${p.w.status} ${p.w.text} / distribution ${p.d.status} ${p.d.text}`,
    );
    const strip = (r: Res) =>
      (JSON.parse(r.text) as { errors: Array<{ code: string; message: string }> }).errors.map(({ code, message }) => ({
        code,
        message,
      }));
    assert.deepEqual(strip(p.w), strip(p.d));
    assert.equal(p.w.headers.get('content-type'), p.d.headers.get('content-type'));
  }

  /** Blob upload that both support: POST a session, PUT the bytes (Distribution 2.8 ignores a single-POST ?digest=). */
  async function upload(base: string, name: string, data: Buffer): Promise<void> {
    const s = await call(base, `/v2/${name}/blobs/uploads/`, { method: 'POST' });
    const r = await call(base, withQuery(rel(s.headers.get('location')), 'digest', sha256(data)), {
      method: 'PUT',
      body: new Uint8Array(data),
    });
    assert.equal(r.status, 201, `${base}: ${r.text}`);
  }

  before(async () => {
    [dist, w] = await Promise.all([startDistribution(), startWharf()]);
    for (const base of [dist.url, w.url]) {
      await upload(base, REPO, cfgBytes);
      await upload(base, REPO, layerBytes);
      for (const tag of ['b', 'a', 'c']) {
        const r = await call(base, `/v2/${REPO}/manifests/${tag}`, {
          method: 'PUT',
          body: manifest,
          headers: { 'Content-Type': OCI_MANIFEST },
        });
        assert.equal(r.status, 201, `${base}: ${r.text}`);
      }
    }
  });
  after(async () => {
    await Promise.all([dist?.cleanup(), w?.cleanup()]);
  });

  test('base endpoint', async () => same(await pair('/v2/'), ['content-length']));

  test('unknown blob, manifest by tag and by digest, unknown repository: byte for byte', async () => {
    same(await pair(`/v2/${REPO}/blobs/${sha256('none')}`));
    same(await pair(`/v2/${REPO}/manifests/none`));
    same(await pair(`/v2/${REPO}/manifests/${sha256('none')}`));
    same(await pair('/v2/compat/none/tags/list'));
    const head = await pair(`/v2/${REPO}/blobs/${sha256('none')}`, { method: 'HEAD' });
    assert.equal(head.w.status, head.d.status);
    assert.equal(head.w.body.length, 0);
  });

  test('manifest GET and HEAD: body and headers', async () => {
    const hdrs = ['content-length', 'docker-content-digest', 'etag'];
    same(await pair(`/v2/${REPO}/manifests/a`, { headers: { Accept: OCI_MANIFEST } }), hdrs);
    same(await pair(`/v2/${REPO}/manifests/${mdigest}`, { headers: { Accept: OCI_MANIFEST } }), hdrs);
    same(await pair(`/v2/${REPO}/manifests/a`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } }), hdrs);
  });

  test('OCI manifest without an OCI Accept', async () => {
    same(await pair(`/v2/${REPO}/manifests/a`));
  });

  test('blob GET, HEAD and Range', async () => {
    const p = await pair(`/v2/${REPO}/blobs/${layer}`);
    assert.equal(p.w.status, p.d.status);
    assert.deepEqual(p.w.body, p.d.body);
    for (const h of ['docker-content-digest', 'content-length', 'etag', 'docker-distribution-api-version'])
      assert.equal(p.w.headers.get(h), p.d.headers.get(h), h);
    const head = await pair(`/v2/${REPO}/blobs/${layer}`, { method: 'HEAD' });
    for (const h of ['docker-content-digest', 'content-length'])
      assert.equal(head.w.headers.get(h), head.d.headers.get(h), h);
    const range = await pair(`/v2/${REPO}/blobs/${layer}`, { headers: { Range: 'bytes=10-19' } });
    assert.equal(range.w.status, range.d.status);
    assert.equal(range.w.headers.get('content-range'), range.d.headers.get('content-range'));
    assert.deepEqual(range.w.body, range.d.body);
  });

  test('tags list and catalog', async () => {
    // Distribution 2.8 lists tags in directory order; wharf sorts them lexically as the distribution-spec asks.
    const tags = await pair(`/v2/${REPO}/tags/list`);
    assert.equal(tags.w.status, tags.d.status);
    assert.equal(tags.w.headers.get('content-length'), tags.d.headers.get('content-length'));
    const dTags = JSON.parse(tags.d.text) as { name: string; tags: string[] };
    assert.deepEqual(JSON.parse(tags.w.text), { name: dTags.name, tags: [...dTags.tags].sort() });
    same(await pair('/v2/_catalog'), ['content-length']);
    same(await pair('/v2/_catalog?n=1'), ['link']);
    same(await pair('/v2/_catalog?n=5000'));
  });

  test('upload session: POST, PATCH, GET status, PUT, DELETE', async () => {
    const start = await pair(`/v2/${REPO}/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.w.status, start.d.status);
    for (const h of ['range', 'content-length']) assert.equal(start.w.headers.get(h), start.d.headers.get(h), h);
    assert.ok(start.w.headers.get('docker-upload-uuid') && start.d.headers.get('docker-upload-uuid'));
    const locPath = (r: Res) => new URL(rel(r.headers.get('location')), 'http://x').pathname.replace(/[^/]+$/, '');
    assert.equal(locPath(start.w), locPath(start.d));
    const loc = (base: string) => rel((base === w.url ? start.w : start.d).headers.get('location'));

    const chunk = Buffer.from('0123456789');
    const patch = await pair(loc, {
      method: 'PATCH',
      body: chunk,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(patch.w.status, patch.d.status);
    assert.equal(patch.w.headers.get('range'), patch.d.headers.get('range'));
    const next = (base: string) => rel((base === w.url ? patch.w : patch.d).headers.get('location'));

    const status = await pair(next);
    assert.equal(status.w.status, status.d.status);
    assert.equal(status.w.headers.get('range'), status.d.headers.get('range'));

    const put = await pair((b) => withQuery(next(b), 'digest', sha256(chunk)), { method: 'PUT' });
    assert.equal(put.w.status, put.d.status);
    assert.equal(put.w.headers.get('docker-content-digest'), put.d.headers.get('docker-content-digest'));
    assert.equal(rel(put.w.headers.get('location')), rel(put.d.headers.get('location')));

    const again = await pair(`/v2/${REPO}/blobs/uploads/`, { method: 'POST' });
    const cancel = await pair((b) => rel((b === w.url ? again.w : again.d).headers.get('location')), {
      method: 'DELETE',
    });
    assert.equal(cancel.w.status, cancel.d.status);
  });

  test('wrong digest on completion', async () => {
    const start = await pair(`/v2/${REPO}/blobs/uploads/`, { method: 'POST' });
    const loc = (b: string) =>
      withQuery(rel((b === w.url ? start.w : start.d).headers.get('location')), 'digest', sha256('other'));
    sameError(await pair(loc, { method: 'PUT', body: 'actual' }));
  });

  test('cross-repository mount, and its fallback to a session', async () => {
    const ok = await pair(`/v2/compat/mounted/blobs/uploads/?mount=${layer}&from=${REPO}`, { method: 'POST' });
    assert.equal(ok.w.status, ok.d.status);
    assert.equal(rel(ok.w.headers.get('location')), rel(ok.d.headers.get('location')));
    assert.equal(ok.w.headers.get('docker-content-digest'), ok.d.headers.get('docker-content-digest'));
    const fallback = await pair(`/v2/compat/mounted/blobs/uploads/?mount=${layer}&from=compat/none`, {
      method: 'POST',
    });
    assert.equal(fallback.w.status, fallback.d.status);
  });

  test('manifest PUT errors', async () => {
    const missing = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256('c'), size: 1 },
      layers: [{ mediaType: OCI_LAYER, digest: sha256('l'), size: 1 }],
    });
    same(
      await pair(`/v2/${REPO}/manifests/x`, {
        method: 'PUT',
        body: missing,
        headers: { 'Content-Type': OCI_MANIFEST },
      }),
    );
    sameError(
      await pair(`/v2/${REPO}/manifests/x`, {
        method: 'PUT',
        body: '{not json',
        headers: { 'Content-Type': OCI_MANIFEST },
      }),
    );
    sameError(
      await pair(`/v2/${REPO}/manifests/x`, {
        method: 'PUT',
        body: manifest,
        headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' },
      }),
    );
    sameError(
      await pair(`/v2/${REPO}/manifests/${sha256('other')}`, {
        method: 'PUT',
        body: manifest,
        headers: { 'Content-Type': OCI_MANIFEST },
      }),
    );
    const ok = await pair(`/v2/${REPO}/manifests/d`, {
      method: 'PUT',
      body: manifest,
      headers: { 'Content-Type': OCI_MANIFEST },
    });
    assert.equal(ok.w.status, ok.d.status);
    assert.equal(rel(ok.w.headers.get('location')), rel(ok.d.headers.get('location')));
    assert.equal(ok.w.headers.get('docker-content-digest'), ok.d.headers.get('docker-content-digest'));
  });

  test('malformed digest and bad pagination numbers', async () => {
    sameError(await pair(`/v2/${REPO}/blobs/sha256:abc`));
    sameError(await pair(`/v2/${REPO}/blobs/md5:d41d8cd98f00b204e9800998ecf8427e`));
  });

  test('unknown route', async () => same(await pair(`/v2/${REPO}/nothing`)));

  test('deletes', async () => {
    same(await pair(`/v2/${REPO}/blobs/${sha256(Buffer.from('0123456789'))}`, { method: 'DELETE' }), [
      'content-length',
    ]);
    same(await pair(`/v2/${REPO}/manifests/${mdigest}`, { method: 'DELETE' }), ['content-length']);
    same(await pair(`/v2/${REPO}/manifests/${mdigest}`, { method: 'DELETE' }));
  });

  describe('deliberate differences', () => {
    test('upper-case names: Distribution 404 page not found (its route regexp does not match), wharf 400 NAME_INVALID', async () => {
      const p = await pair('/v2/Compat/img/tags/list');
      assert.equal(p.d.status, 404);
      assert.equal(p.w.status, 400);
      assert.equal(JSON.parse(p.w.text).errors[0].code, 'NAME_INVALID');
    });

    test('referrers API: Distribution 2.8 has none (404), wharf implements OCI 1.1', async () => {
      const p = await pair(`/v2/${REPO}/referrers/${mdigest}`);
      assert.equal(p.d.status, 404);
      assert.equal(p.w.status, 200);
      assert.equal(p.w.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
    });

    test('a digest-shaped bad reference: Distribution 500 UNKNOWN (it looks it up as a tag), wharf 400 DIGEST_INVALID', async () => {
      const p = await pair(`/v2/${REPO}/manifests/sha256:totallywrong`);
      assert.equal(p.d.status, 500);
      assert.equal(p.w.status, 400);
      assert.equal(JSON.parse(p.w.text).errors[0].code, 'DIGEST_INVALID');
    });

    test('catalog n negative or non-numeric: Distribution 2.8 ignores it (v3 refuses it), wharf follows v3', async () => {
      const p = await pair('/v2/_catalog?n=abc');
      assert.equal(p.d.status, 200);
      assert.equal(p.w.status, 400);
      assert.equal(JSON.parse(p.w.text).errors[0].code, 'PAGINATION_NUMBER_INVALID');
    });

    test('single-POST upload with ?digest=: Distribution opens a session (202), wharf stores the blob (201)', async () => {
      const data = Buffer.from('single post');
      const p = await pair(`/v2/${REPO}/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', body: data });
      assert.equal(p.d.status, 202);
      assert.equal(p.w.status, 201);
    });
  });
});
