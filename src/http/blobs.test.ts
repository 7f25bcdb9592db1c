/**
 * Blob GET/HEAD/DELETE in process: headers as Distribution sends them, single byte ranges (206, suffix,
 * open-ended, clamped end), unsatisfiable ranges (416 RANGE_INVALID with `Content-Range: bytes *\/size`),
 * conditional GET, unknown and invalid digests, delete enabled and disabled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { oneError, pushBlob, sha256, startTestRegistry, type TestRegistry } from './fixture.test.js';

const DATA = 'hello world, this is a blob'; // 27 bytes, as in the comparison run against docker-registry

describe('blob reads', () => {
  let reg: TestRegistry;
  let digest: string;
  let path: string;

  before(async () => {
    reg = await startTestRegistry();
    digest = await pushBlob(reg, 'b/r', DATA);
    path = `/v2/b/r/blobs/${digest}`;
  });
  after(() => reg.close());

  test("GET streams the blob with Distribution's headers; HEAD the same headers without a body", async () => {
    for (const method of ['GET', 'HEAD']) {
      const r = await reg.req(method, path);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-length'], '27');
      assert.equal(r.headers['content-type'], 'application/octet-stream');
      assert.equal(r.headers['docker-content-digest'], digest);
      assert.equal(r.headers.etag, `"${digest}"`);
      assert.equal(r.headers['cache-control'], 'max-age=31536000');
      assert.equal(r.headers['accept-ranges'], 'bytes');
      assert.equal(r.headers['content-range'], undefined);
      assert.equal(r.text, method === 'GET' ? DATA : '');
    }
  });

  // The header, then the Content-Range and body expected; byte for byte what docker-registry 2.8.2 answers.
  const ranges: Array<[string, string, string]> = [
    ['bytes=0-4', 'bytes 0-4/27', 'hello'],
    ['bytes=6-10', 'bytes 6-10/27', 'world'],
    ['bytes=-5', 'bytes 22-26/27', ' blob'],
    ['bytes=20-', 'bytes 20-26/27', ' a blob'],
    ['bytes=0-1000', 'bytes 0-26/27', DATA],
    ['bytes=-1000', 'bytes 0-26/27', DATA],
    ['bytes=26-26', 'bytes 26-26/27', 'b'],
  ];

  test('a single range is 206 with Content-Range and exactly those bytes', async () => {
    for (const [range, contentRange, body] of ranges) {
      const r = await reg.req('GET', path, { headers: { Range: range } });
      assert.equal(r.status, 206, range);
      assert.equal(r.headers['content-range'], contentRange, range);
      assert.equal(r.headers['content-length'], String(body.length), range);
      assert.equal(r.text, body, range);
      const head = await reg.req('HEAD', path, { headers: { Range: range } });
      assert.equal(head.status, 206, range);
      assert.equal(head.headers['content-range'], contentRange, range);
      assert.equal(head.body.length, 0);
    }
  });

  test('an unsatisfiable range is 416 RANGE_INVALID with Content-Range: bytes */size', async () => {
    for (const range of ['bytes=27-', 'bytes=100-200', 'bytes=5-2', 'bytes=-0']) {
      const r = await reg.req('GET', path, { headers: { Range: range } });
      assert.equal(r.status, 416, range);
      assert.equal(r.headers['content-range'], 'bytes */27', range);
      assert.equal(r.headers['docker-distribution-api-version'], 'registry/2.0');
      assert.equal(
        r.text,
        '{"errors":[{"code":"RANGE_INVALID","message":"invalid content range","detail":{"size":27}}]}\n',
        range,
      );
    }
  });

  test('a malformed or multi-range header is ignored: the whole blob, 200 (RFC 9110 allows it)', async () => {
    for (const range of ['garbage', 'bytes=0-1,3-4', 'items=0-4', 'bytes=-']) {
      const r = await reg.req('GET', path, { headers: { Range: range } });
      assert.equal(r.status, 200, range);
      assert.equal(r.text, DATA, range);
      assert.equal(r.headers['content-range'], undefined);
    }
  });

  test('If-None-Match with the digest (quoted or not) is 304 without a body', async () => {
    for (const inm of [`"${digest}"`, digest]) {
      const r = await reg.req('GET', path, { headers: { 'If-None-Match': inm } });
      assert.equal(r.status, 304);
      assert.equal(r.body.length, 0);
      assert.equal(r.headers.etag, `"${digest}"`);
    }
    assert.equal((await reg.req('GET', path, { headers: { 'If-None-Match': '"sha256:other"' } })).status, 200);
  });

  test('a blob unknown to the repository is 404 BLOB_UNKNOWN with the digest as detail', async () => {
    const other = sha256('never pushed');
    const r = await reg.req('GET', `/v2/b/r/blobs/${other}`);
    assert.equal(r.status, 404);
    assert.equal(
      r.text,
      `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"${other}"}]}\n`,
    );
    const head = await reg.req('HEAD', `/v2/b/r/blobs/${other}`);
    assert.equal(head.status, 404);
    assert.equal(head.body.length, 0);
    // Pushed to b/r, not linked into b/other: unknown there.
    assert.equal(oneError(await reg.req('GET', `/v2/b/other/blobs/${digest}`)).code, 'BLOB_UNKNOWN');
  });

  test('a malformed or unsupported digest is 400 DIGEST_INVALID', async () => {
    for (const d of ['sha256:abc', 'md5:d41d8cd98f00b204e9800998ecf8427e', `sha256:${'A'.repeat(64)}`, 'nodigest']) {
      const r = await reg.req('GET', `/v2/b/r/blobs/${d}`);
      assert.equal(r.status, 400, d);
      const e = oneError(r);
      assert.equal(e.code, 'DIGEST_INVALID', d);
      assert.deepEqual(e.detail, { digest: d });
    }
  });
});

describe('blob delete', () => {
  test('with storage.delete.enabled: 202 with the digest, then 404 BLOB_UNKNOWN; again: 404', async () => {
    const reg = await startTestRegistry();
    try {
      const digest = await pushBlob(reg, 'd/r', 'to delete');
      const r = await reg.req('DELETE', `/v2/d/r/blobs/${digest}`);
      assert.equal(r.status, 202);
      assert.equal(r.headers['docker-content-digest'], digest);
      assert.equal(r.headers['content-length'], '0');
      assert.equal(oneError(await reg.req('GET', `/v2/d/r/blobs/${digest}`)).code, 'BLOB_UNKNOWN');
      const again = await reg.req('DELETE', `/v2/d/r/blobs/${digest}`);
      assert.equal(again.status, 404);
      assert.equal(oneError(again).code, 'BLOB_UNKNOWN');
    } finally {
      await reg.close();
    }
  });

  test('without it (the default): 405 UNSUPPORTED, and the blob stays', async () => {
    const reg = await startTestRegistry({ storage: { delete: { enabled: false } } });
    try {
      const digest = await pushBlob(reg, 'd/r', 'kept');
      const r = await reg.req('DELETE', `/v2/d/r/blobs/${digest}`);
      assert.equal(r.status, 405);
      assert.equal(r.text, '{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}\n');
      assert.equal((await reg.req('GET', `/v2/d/r/blobs/${digest}`)).text, 'kept');
    } finally {
      await reg.close();
    }
  });
});
