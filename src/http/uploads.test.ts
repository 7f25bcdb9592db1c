/**
 * The blob upload protocol in process: POST / PATCH / PUT / GET / DELETE with Distribution's statuses and
 * headers (Location with `_state`, `Range: 0-<last>`, Docker-Upload-UUID, Content-Length: 0), chunk order,
 * monolithic uploads, cross-repository mounts, and the errors of a broken session.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { oneError, pushBlob, sha256, startTestRegistry, type Response, type TestRegistry } from './fixture.test.js';

/** The path and query of a Location header. */
function pathOf(location: string | string[] | undefined): string {
  const u = new URL(String(location));
  return u.pathname + u.search;
}

/** Headers every upload session response carries; returns the session's uuid. */
function assertSession(r: Response, status: number, repo: string, range: string): string {
  assert.equal(r.status, status, r.text);
  assert.equal(r.headers['content-length'], '0');
  assert.equal(r.headers.range, range);
  const uuid = String(r.headers['docker-upload-uuid']);
  assert.match(uuid, /^[0-9a-f-]{36}$/);
  const loc = new URL(String(r.headers.location));
  assert.equal(loc.pathname, `/v2/${repo}/blobs/uploads/${uuid}`);
  assert.ok(loc.searchParams.get('_state'), 'Location carries the upload state');
  return uuid;
}

describe('upload protocol', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry();
  });
  after(() => reg.close());

  test('POST 202, PATCH chunks 202, GET 204, PUT 201: Location, Range and Docker-Upload-UUID at every step', async () => {
    const start = await reg.req('POST', '/v2/u/chunked/blobs/uploads/');
    const uuid = assertSession(start, 202, 'u/chunked', '0-0');

    const first = await reg.req('PATCH', pathOf(start.headers.location), {
      body: 'hello ',
      headers: { 'Content-Range': '0-5', 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(assertSession(first, 202, 'u/chunked', '0-5'), uuid);
    const second = await reg.req('PATCH', pathOf(first.headers.location), {
      body: 'chunked',
      headers: { 'Content-Range': '6-12' },
    });
    assert.equal(assertSession(second, 202, 'u/chunked', '0-12'), uuid);

    const status = await reg.req('GET', pathOf(second.headers.location));
    assert.equal(assertSession(status, 204, 'u/chunked', '0-12'), uuid);

    const digest = sha256('hello chunked world');
    const done = await reg.req('PUT', `${pathOf(second.headers.location)}&digest=${digest}`, { body: ' world' });
    assert.equal(done.status, 201, done.text);
    assert.equal(done.headers['content-length'], '0');
    assert.equal(done.headers['docker-content-digest'], digest);
    assert.equal(pathOf(done.headers.location), `/v2/u/chunked/blobs/${digest}`);
    assert.equal((await reg.req('GET', `/v2/u/chunked/blobs/${digest}`)).text, 'hello chunked world');
    // The session is gone once the blob is committed.
    assert.equal(oneError(await reg.req('GET', pathOf(start.headers.location))).code, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('a streamed PATCH (no Content-Range, chunked transfer encoding) appends the whole body', async () => {
    const start = await reg.req('POST', '/v2/u/stream/blobs/uploads/');
    async function* body(): AsyncGenerator<Buffer> {
      yield Buffer.from('part one, ');
      yield Buffer.from('part two');
    }
    const patch = await reg.req('PATCH', pathOf(start.headers.location), { body: body() });
    assertSession(patch, 202, 'u/stream', '0-17');
    const digest = sha256('part one, part two');
    assert.equal((await reg.req('PUT', `${pathOf(patch.headers.location)}&digest=${digest}`)).status, 201);
  });

  test('an out-of-order chunk is 416 RANGE_INVALID and changes nothing', async () => {
    const start = await reg.req('POST', '/v2/u/order/blobs/uploads/');
    const first = await reg.req('PATCH', pathOf(start.headers.location), {
      body: '01234',
      headers: { 'Content-Range': '0-4' },
    });
    assert.equal(first.status, 202);
    for (const range of ['10-14', '0-4', '3-7']) {
      const bad = await reg.req('PATCH', pathOf(first.headers.location), {
        body: 'xxxxx',
        headers: { 'Content-Range': range },
      });
      assert.equal(bad.status, 416, range);
      assert.equal(oneError(bad).code, 'RANGE_INVALID', range);
    }
    assert.equal((await reg.req('GET', pathOf(first.headers.location))).headers.range, '0-4');
  });

  test('a malformed Content-Range, or one disagreeing with Content-Length, is 416 RANGE_INVALID', async () => {
    const start = await reg.req('POST', '/v2/u/malformed/blobs/uploads/');
    for (const [range, body] of [
      ['abc', 'xx'],
      ['5-2', 'xx'],
      ['0-9', 'xx'],
    ]) {
      const r = await reg.req('PATCH', pathOf(start.headers.location), { body, headers: { 'Content-Range': range } });
      assert.equal(r.status, 416, range);
      assert.equal(oneError(r).code, 'RANGE_INVALID', range);
    }
  });

  test('PUT without ?digest= is 400 DIGEST_INVALID; with the wrong digest 400 DIGEST_INVALID and no blob', async () => {
    const start = await reg.req('POST', '/v2/u/digest/blobs/uploads/');
    const missing = await reg.req('PUT', pathOf(start.headers.location), { body: 'data' });
    assert.equal(missing.status, 400);
    assert.equal(oneError(missing).code, 'DIGEST_INVALID');

    const again = await reg.req('POST', '/v2/u/digest/blobs/uploads/');
    const claimed = sha256('something else');
    const wrong = await reg.req('PUT', `${pathOf(again.headers.location)}&digest=${claimed}`, { body: 'data' });
    assert.equal(wrong.status, 400);
    assert.equal(oneError(wrong).code, 'DIGEST_INVALID');
    assert.equal((await reg.req('HEAD', `/v2/u/digest/blobs/${claimed}`)).status, 404);
    assert.equal((await reg.req('HEAD', `/v2/u/digest/blobs/${sha256('data')}`)).status, 404);
  });

  test('an empty blob: POST then PUT ?digest= without a body', async () => {
    const start = await reg.req('POST', '/v2/u/empty/blobs/uploads/');
    const digest = sha256('');
    const r = await reg.req('PUT', `${pathOf(start.headers.location)}&digest=${digest}`);
    assert.equal(r.status, 201, r.text);
    const head = await reg.req('HEAD', `/v2/u/empty/blobs/${digest}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '0');
  });

  test('DELETE cancels: 204, then the session is 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const start = await reg.req('POST', '/v2/u/cancel/blobs/uploads/');
    const uuid = String(start.headers['docker-upload-uuid']);
    const del = await reg.req('DELETE', pathOf(start.headers.location));
    assert.equal(del.status, 204);
    assert.equal(del.headers['content-length'], '0');
    const gone = await reg.req('GET', `/v2/u/cancel/blobs/uploads/${uuid}`);
    assert.equal(gone.status, 404);
    assert.equal(oneError(gone).code, 'BLOB_UPLOAD_UNKNOWN');
    assert.equal((await reg.req('DELETE', `/v2/u/cancel/blobs/uploads/${uuid}`)).status, 404);
  });

  test('an unknown session is 404 BLOB_UPLOAD_UNKNOWN for GET, PATCH, PUT and DELETE', async () => {
    const uuid = '6f1d6a3e-3c43-4b7b-9d3c-1f1b2c3d4e5f';
    for (const method of ['GET', 'PATCH', 'PUT', 'DELETE']) {
      const q = method === 'PUT' ? `?digest=${sha256('')}` : '';
      const r = await reg.req(method, `/v2/u/none/blobs/uploads/${uuid}${q}`, {
        body: method === 'PATCH' ? 'x' : undefined,
      });
      assert.equal(r.status, 404, method);
      assert.equal(oneError(r).code, 'BLOB_UPLOAD_UNKNOWN', method);
    }
    assert.equal(oneError(await reg.req('GET', '/v2/u/none/blobs/uploads/not-a-uuid')).code, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('a forged or foreign _state is 404 BLOB_UPLOAD_INVALID', async () => {
    const a = await reg.req('POST', '/v2/u/state-a/blobs/uploads/');
    const b = await reg.req('POST', '/v2/u/state-b/blobs/uploads/');
    const uuidA = String(a.headers['docker-upload-uuid']);
    const stateB = new URL(String(b.headers.location)).searchParams.get('_state')!;
    for (const state of ['forged', stateB]) {
      const r = await reg.req('GET', `/v2/u/state-a/blobs/uploads/${uuidA}?_state=${encodeURIComponent(state)}`);
      assert.equal(r.status, 404, state);
      assert.equal(oneError(r).code, 'BLOB_UPLOAD_INVALID', state);
    }
  });

  test('a stale _state (the session moved on) is refused: 404 BLOB_UPLOAD_INVALID', async () => {
    const start = await reg.req('POST', '/v2/u/stale/blobs/uploads/');
    const patched = await reg.req('PATCH', pathOf(start.headers.location), { body: 'abc' });
    assert.equal(patched.status, 202);
    // The Location of the POST says offset 0; the session has 3 bytes.
    const stale = await reg.req('PATCH', pathOf(start.headers.location), { body: 'def' });
    assert.equal(stale.status, 404);
    assert.equal(oneError(stale).code, 'BLOB_UPLOAD_INVALID');
    assert.equal((await reg.req('GET', pathOf(patched.headers.location))).headers.range, '0-2');
  });

  test("a monolithic POST ?digest= is 201 with the blob's Location", async () => {
    const digest = sha256('monolithic');
    const r = await reg.req('POST', `/v2/u/mono/blobs/uploads/?digest=${digest}`, { body: 'monolithic' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers['docker-content-digest'], digest);
    assert.equal(pathOf(r.headers.location), `/v2/u/mono/blobs/${digest}`);
    const wrong = await reg.req('POST', `/v2/u/mono/blobs/uploads/?digest=${sha256('other')}`, { body: 'monolithic' });
    assert.equal(wrong.status, 400);
    assert.equal(oneError(wrong).code, 'DIGEST_INVALID');
  });

  test('mount: 201 when the source repository has the blob, else a new session (202)', async () => {
    const digest = await pushBlob(reg, 'u/source', 'mounted');
    const r = await reg.req('POST', `/v2/u/target/blobs/uploads/?mount=${digest}&from=u/source`);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers['docker-content-digest'], digest);
    assert.equal(pathOf(r.headers.location), `/v2/u/target/blobs/${digest}`);
    assert.equal((await reg.req('GET', `/v2/u/target/blobs/${digest}`)).text, 'mounted');

    const absent = sha256('not in source');
    assertSession(
      await reg.req('POST', `/v2/u/target2/blobs/uploads/?mount=${absent}&from=u/source`),
      202,
      'u/target2',
      '0-0',
    );
    const badFrom = await reg.req('POST', `/v2/u/target2/blobs/uploads/?mount=${digest}&from=Bad..Name`);
    assert.equal(oneError(badFrom).code, 'NAME_INVALID');
  });
});
