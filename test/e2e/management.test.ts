/**
 * Content management: deleting manifests (by tag and by digest) and blobs, the same requests refused with
 * 405 UNSUPPORTED when `storage.delete.enabled` is false, and read-only mode refusing every write while reads
 * keep working. Covers the distribution-spec conformance "content management" workflow.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeImage, OCI_MANIFEST, pushManifest, sha256, startWharf, testConfig, type Wharf } from './harness.js';
import { assertError, call, startSession } from './api.js';

const UNSUPPORTED = '{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}\n';

function config(opts: { deleteEnabled: boolean; readOnly?: boolean }): string {
  return testConfig({
    storage: `  delete:\n    enabled: ${opts.deleteEnabled}\n  maintenance:\n    readonly:\n      enabled: ${opts.readOnly ?? false}\n`,
  });
}

/** Pushes an image tagged v1 and v2; returns the manifest digest and its blobs. */
async function seed(w: Wharf, name: string): Promise<{ digest: string; config: string; layer: string }> {
  const img = await makeImage(w.url, name, name);
  const body = JSON.stringify(img.manifest);
  for (const tag of ['v1', 'v2']) {
    const r = await pushManifest(w.url, name, tag, body, OCI_MANIFEST);
    await r.arrayBuffer();
    assert.equal(r.status, 201);
  }
  return { digest: sha256(body), config: img.config, layer: img.layer };
}

async function tags(w: Wharf, name: string): Promise<string[]> {
  const r = await call(w.url, `/v2/${name}/tags/list`);
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.text).tags as string[];
}

const accept = { headers: { Accept: OCI_MANIFEST } };

describe('delete enabled', () => {
  let w: Wharf;
  before(async () => {
    w = await startWharf({ config: config({ deleteEnabled: true }) });
  });
  after(async () => {
    await w?.cleanup();
  });

  test('DELETE by tag removes only that tag: 202, the manifest stays', async () => {
    const s = await seed(w, 'mgmt/bytag');
    const r = await call(w.url, '/v2/mgmt/bytag/manifests/v1', { method: 'DELETE' });
    assert.equal(r.status, 202);
    assert.deepEqual(await tags(w, 'mgmt/bytag'), ['v2']);
    assertError(await call(w.url, '/v2/mgmt/bytag/manifests/v1', accept), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await call(w.url, `/v2/mgmt/bytag/manifests/${s.digest}`, accept)).status, 200);
    assertError(await call(w.url, '/v2/mgmt/bytag/manifests/v1', { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  });

  test('DELETE by digest: 202, the manifest and the tags pointing at it are gone', async () => {
    const s = await seed(w, 'mgmt/bydigest');
    const r = await call(w.url, `/v2/mgmt/bydigest/manifests/${s.digest}`, { method: 'DELETE' });
    assert.equal(r.status, 202);
    assert.equal(r.body.length, 0);
    assertError(await call(w.url, `/v2/mgmt/bydigest/manifests/${s.digest}`, accept), 404, 'MANIFEST_UNKNOWN');
    assertError(await call(w.url, '/v2/mgmt/bydigest/manifests/v2', accept), 404, 'MANIFEST_UNKNOWN');
    assert.deepEqual(await tags(w, 'mgmt/bydigest'), []);
    assertError(
      await call(w.url, `/v2/mgmt/bydigest/manifests/${s.digest}`, { method: 'DELETE' }),
      404,
      'MANIFEST_UNKNOWN',
    );
  });

  test('DELETE of a blob: 202, then 404 BLOB_UNKNOWN in that repository only', async () => {
    const s = await seed(w, 'mgmt/blob');
    const mount = await call(w.url, `/v2/mgmt/blob-other/blobs/uploads/?mount=${s.layer}&from=mgmt/blob`, {
      method: 'POST',
    });
    assert.equal(mount.status, 201);
    const r = await call(w.url, `/v2/mgmt/blob/blobs/${s.layer}`, { method: 'DELETE' });
    assert.equal(r.status, 202);
    assertError(await call(w.url, `/v2/mgmt/blob/blobs/${s.layer}`), 404, 'BLOB_UNKNOWN');
    assertError(await call(w.url, `/v2/mgmt/blob/blobs/${s.layer}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
    assert.equal((await call(w.url, `/v2/mgmt/blob/blobs/${s.config}`)).status, 200);
    assert.equal((await call(w.url, `/v2/mgmt/blob-other/blobs/${s.layer}`)).status, 200);
  });

  test('DELETE of an unknown manifest or blob is 404', async () => {
    assertError(
      await call(w.url, `/v2/mgmt/none/manifests/${sha256('none')}`, { method: 'DELETE' }),
      404,
      'MANIFEST_UNKNOWN',
    );
    assertError(await call(w.url, `/v2/mgmt/none/blobs/${sha256('none')}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
  });
});

describe('delete disabled', () => {
  let w: Wharf;
  before(async () => {
    w = await startWharf({ config: config({ deleteEnabled: false }) });
  });
  after(async () => {
    await w?.cleanup();
  });

  test('DELETE of a manifest by digest, by tag, and of a blob answer 405 UNSUPPORTED and delete nothing', async () => {
    const s = await seed(w, 'mgmt/keep');
    for (const path of [
      `/v2/mgmt/keep/manifests/${s.digest}`,
      '/v2/mgmt/keep/manifests/v1',
      `/v2/mgmt/keep/blobs/${s.layer}`,
    ]) {
      const r = await call(w.url, path, { method: 'DELETE' });
      assert.equal(r.status, 405, path);
      assert.equal(r.text, UNSUPPORTED);
      assert.equal(r.headers.get('docker-distribution-api-version'), 'registry/2.0');
    }
    assert.deepEqual(await tags(w, 'mgmt/keep'), ['v1', 'v2']);
    assert.equal((await call(w.url, `/v2/mgmt/keep/manifests/${s.digest}`, accept)).status, 200);
    assert.equal((await call(w.url, `/v2/mgmt/keep/blobs/${s.layer}`)).status, 200);
  });
});

describe('read-only mode', () => {
  let w: Wharf;
  let s: { digest: string; config: string; layer: string };
  let session: string;
  before(async () => {
    const writer = await startWharf({ config: config({ deleteEnabled: true }) });
    s = await seed(writer, 'mgmt/ro');
    session = await startSession(writer.url, 'mgmt/ro');
    await writer.stop();
    w = await startWharf({ dir: writer.dir, config: config({ deleteEnabled: true, readOnly: true }) });
  });
  after(async () => {
    await w?.cleanup();
  });

  test('every write is refused with 405 UNSUPPORTED', async () => {
    const body = JSON.stringify({ schemaVersion: 2 });
    const writes: Array<[string, string, RequestInit?]> = [
      ['POST', '/v2/mgmt/ro/blobs/uploads/'],
      ['POST', `/v2/mgmt/ro/blobs/uploads/?digest=${sha256('x')}`, { body: 'x' }],
      ['POST', `/v2/mgmt/ro2/blobs/uploads/?mount=${s.layer}&from=mgmt/ro`],
      ['PATCH', session, { body: 'x' }],
      ['PUT', `${session}&digest=${sha256('x')}`, { body: 'x' }],
      ['DELETE', session],
      ['PUT', '/v2/mgmt/ro/manifests/v3', { body, headers: { 'Content-Type': OCI_MANIFEST } }],
      ['DELETE', `/v2/mgmt/ro/manifests/${s.digest}`],
      ['DELETE', '/v2/mgmt/ro/manifests/v1'],
      ['DELETE', `/v2/mgmt/ro/blobs/${s.layer}`],
    ];
    for (const [method, path, init] of writes) {
      const r = await call(w.url, path, { method, ...(init ?? {}) });
      assertError(r, 405, 'UNSUPPORTED');
    }
    assertError(await call(w.url, '/v2/mgmt/ro2/blobs/' + s.layer), 404, 'BLOB_UNKNOWN');
  });

  test('reads still work', async () => {
    assert.equal((await call(w.url, '/v2/')).status, 200);
    assert.equal(
      (await call(w.url, '/v2/mgmt/ro/manifests/v1', accept)).headers.get('docker-content-digest'),
      s.digest,
    );
    assert.equal((await call(w.url, `/v2/mgmt/ro/blobs/${s.layer}`)).status, 200);
    assert.equal((await call(w.url, `/v2/mgmt/ro/blobs/${s.layer}`, { method: 'HEAD' })).status, 200);
    assert.deepEqual(await tags(w, 'mgmt/ro'), ['v1', 'v2']);
    assert.deepEqual(JSON.parse((await call(w.url, '/v2/_catalog')).text).repositories, ['mgmt/ro']);
    assert.equal((await call(w.url, session)).status, 204);
    assert.equal((await call(w.url, `/v2/mgmt/ro/referrers/${s.digest}`)).status, 200);
  });
});
