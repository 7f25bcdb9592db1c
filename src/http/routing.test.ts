/**
 * Routing, in process: every route answers every method it declares, refuses the others with 405 UNSUPPORTED
 * and an Allow header, unknown paths get Go's plain-text 404, and every response (errors included) carries
 * Docker-Distribution-API-Version and http.headers. Also: http.prefix, read-only mode, name validation.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MT, oneError, pushBlob, pushImage, startTestRegistry, type TestRegistry } from './fixture.test.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

describe('routes and methods', () => {
  let reg: TestRegistry;
  let blob: string;
  let manifest: string;
  let upload: string;

  before(async () => {
    reg = await startTestRegistry({ http: { headers: { 'X-Test-Header': ['one'] } } });
    blob = await pushBlob(reg, 'r/a', 'routing blob');
    // Docker schema 2: served whatever the Accept header says (an OCI manifest needs Accept).
    manifest = (await pushImage(reg, 'r/a', 'v1', MT.dockerManifest)).digest;
    const r = await reg.req('POST', '/v2/r/a/blobs/uploads/');
    upload = String(r.headers.location);
  });
  after(() => reg.close());

  // Path, the methods its route declares (the Allow header, in this order), and a method that works on it.
  const table = (): Array<{ path: string; allow: string; ok: Record<string, number> }> => [
    { path: '/v2/', allow: 'GET, HEAD', ok: { GET: 200, HEAD: 200 } },
    { path: '/v2', allow: 'GET, HEAD', ok: { GET: 200 } },
    { path: '/v2/_catalog', allow: 'GET', ok: { GET: 200 } },
    { path: '/v2/r/a/tags/list', allow: 'GET', ok: { GET: 200 } },
    { path: `/v2/r/a/manifests/v1`, allow: 'GET, HEAD, PUT, DELETE', ok: { GET: 200, HEAD: 200 } },
    { path: `/v2/r/a/manifests/${manifest}`, allow: 'GET, HEAD, PUT, DELETE', ok: { GET: 200, HEAD: 200 } },
    { path: '/v2/r/a/blobs/uploads/', allow: 'POST', ok: { POST: 202 } },
    { path: '/v2/r/a/blobs/uploads', allow: 'POST', ok: { POST: 202 } },
    { path: new URL(upload).pathname + new URL(upload).search, allow: 'GET, PATCH, PUT, DELETE', ok: { GET: 204 } },
    { path: `/v2/r/a/blobs/${blob}`, allow: 'GET, HEAD, DELETE', ok: { GET: 200, HEAD: 200 } },
    { path: `/v2/r/a/referrers/${manifest}`, allow: 'GET', ok: { GET: 200 } },
  ];

  test('each route answers the methods it declares', async () => {
    for (const { path, ok } of table()) {
      for (const [method, status] of Object.entries(ok)) {
        const r = await reg.req(method, path);
        assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
        assert.equal(r.headers['docker-distribution-api-version'], 'registry/2.0');
      }
    }
  });

  test("every other method is 405 UNSUPPORTED with the route's Allow header", async () => {
    for (const { path, allow } of table()) {
      const declared = allow.split(', ');
      for (const method of METHODS.filter((m) => !declared.includes(m))) {
        const r = await reg.req(method, path);
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.equal(r.headers.allow, allow, `${method} ${path}`);
        assert.equal(r.headers['docker-distribution-api-version'], 'registry/2.0');
        if (method === 'HEAD') {
          assert.equal(r.body.length, 0);
          continue;
        }
        assert.equal(
          r.text,
          `{"errors":[{"code":"UNSUPPORTED","message":"method ${method} is not allowed on this endpoint","detail":{"method":"${method}"}}]}\n`,
        );
      }
    }
  });

  test("unknown paths are Go's plain-text 404, with the API version and http.headers", async () => {
    for (const path of [
      '/v3/',
      '/v2/r/a',
      '/v2/r/a/blobs',
      '/v2/r/a/manifests',
      '/v2/r/a/manifests/',
      '/v2/r/a/tags',
      '/v2/_catalog/x',
      '/v2/r/a/referrers/',
      '/favicon.ico',
    ]) {
      for (const method of ['GET', 'PUT']) {
        const r = await reg.req(method, path);
        assert.equal(r.status, 404, `${method} ${path}: ${r.text}`);
        assert.equal(r.text, '404 page not found\n', path);
        assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
        assert.equal(r.headers['x-content-type-options'], 'nosniff');
        assert.equal(r.headers['docker-distribution-api-version'], 'registry/2.0');
        assert.equal(r.headers['x-test-header'], 'one');
      }
    }
  });

  test('GET / answers 200 with an empty body; GET /v2/ answers exactly {}', async () => {
    const root = await reg.req('GET', '/');
    assert.equal(root.status, 200);
    assert.equal(root.body.length, 0);
    assert.equal(root.headers['cache-control'], 'no-cache');
    const v2 = await reg.req('GET', '/v2/');
    assert.equal(v2.text, '{}');
    assert.equal(v2.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(v2.headers['content-length'], '2');
    const head = await reg.req('HEAD', '/v2/');
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['content-length'], '2');
  });

  test('http.headers are added to successes and errors alike', async () => {
    assert.equal((await reg.req('GET', '/v2/')).headers['x-test-header'], 'one');
    const err = await reg.req('GET', '/v2/r/a/manifests/nope');
    assert.equal(err.status, 404);
    assert.equal(err.headers['x-test-header'], 'one');
  });

  test('an invalid repository name is 400 NAME_INVALID on every route that takes one', async () => {
    for (const [method, path] of [
      ['GET', '/v2/UPPER/tags/list'],
      ['GET', '/v2/a..b/manifests/latest'],
      ['HEAD', `/v2/-x/blobs/${blob}`],
      ['POST', '/v2/a//b/blobs/uploads/'],
      ['GET', `/v2/a_/referrers/${manifest}`],
      ['GET', `/v2/${'a'.repeat(256)}/tags/list`],
    ]) {
      const r = await reg.req(method, path);
      assert.equal(r.status, 400, `${method} ${path}`);
      if (method !== 'HEAD') assert.equal(oneError(r).code, 'NAME_INVALID', path);
    }
    const long = oneError(await reg.req('GET', `/v2/${'a'.repeat(256)}/tags/list`));
    assert.equal(long.message, 'repository name must not be more than 255 characters');
  });

  test('probes are answered outside the API', async () => {
    const live = await reg.req('GET', '/livez');
    assert.equal(live.status, 200);
    assert.deepEqual(live.json(), { status: 'ok' });
    assert.equal((await reg.req('GET', '/readyz')).status, 200);
  });
});

describe('http.prefix', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry({ http: { prefix: '/mirror/' } });
  });
  after(() => reg.close());

  test('the API lives under the prefix only, and Location carries it', async () => {
    assert.equal((await reg.req('GET', '/mirror/v2/')).text, '{}');
    const outside = await reg.req('GET', '/v2/');
    assert.equal(outside.status, 404);
    assert.equal(outside.text, '404 page not found\n');
    const post = await reg.req('POST', '/mirror/v2/p/blobs/uploads/');
    assert.equal(post.status, 202);
    assert.match(
      String(post.headers.location),
      /^http:\/\/127\.0\.0\.1:\d+\/mirror\/v2\/p\/blobs\/uploads\/[0-9a-f-]+\?_state=/,
    );
  });
});

describe('read-only mode', () => {
  let dir: string;
  let reg: TestRegistry;
  let blob: string;
  before(async () => {
    // Content written by a writable instance, then served by a read-only one over the same directory.
    dir = await mkdtemp(join(tmpdir(), 'wharf-readonly-'));
    const storage = { inmemory: undefined, filesystem: { rootdirectory: dir } };
    const writer = await startTestRegistry({ storage });
    blob = await pushBlob(writer, 'ro', 'read-only blob');
    await pushImage(writer, 'ro', 'latest');
    await writer.close();
    reg = await startTestRegistry({ storage: { ...storage, maintenance: { readonly: { enabled: true } } } });
  });
  after(async () => {
    await reg.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('every write is 405 UNSUPPORTED; reads are served', async () => {
    for (const [method, path] of [
      ['POST', '/v2/ro/blobs/uploads/'],
      ['PATCH', '/v2/ro/blobs/uploads/some-uuid'],
      ['PUT', `/v2/ro/blobs/uploads/some-uuid?digest=${blob}`],
      ['DELETE', '/v2/ro/blobs/uploads/some-uuid'],
      ['PUT', '/v2/ro/manifests/latest'],
      ['DELETE', '/v2/ro/manifests/latest'],
      ['DELETE', `/v2/ro/blobs/${blob}`],
    ]) {
      const r = await reg.req(method, path, { body: '' });
      assert.equal(r.status, 405, `${method} ${path}`);
      const e = oneError(r);
      assert.equal(e.code, 'UNSUPPORTED');
      assert.equal(e.message, 'the registry is in read-only mode');
    }
    assert.deepEqual((await reg.req('GET', '/v2/_catalog')).json(), { repositories: ['ro'] });
    assert.equal((await reg.req('GET', `/v2/ro/blobs/${blob}`)).text, 'read-only blob');
    assert.equal(
      (
        await reg.req('GET', '/v2/ro/manifests/latest', {
          headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
        })
      ).status,
      200,
    );
  });
});
