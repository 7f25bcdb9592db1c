import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { makeImage, OCI_MANIFEST, pushManifest, sha256, startWharf, type Wharf } from './harness.js';

let w: Wharf;
before(async () => {
  w = await startWharf();
});
after(async () => {
  await w.cleanup();
});

test('GET /v2/ answers 200 {} with the API version header', async () => {
  const r = await fetch(`${w.url}/v2/`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('docker-distribution-api-version'), 'registry/2.0');
  assert.deepEqual(await r.json(), {});
});

test('an image pushed by tag is pulled back byte for byte', async () => {
  const { manifest } = await makeImage(w.url, 'smoke/img');
  const body = JSON.stringify(manifest);
  const put = await pushManifest(w.url, 'smoke/img', 'v1', body, OCI_MANIFEST);
  assert.equal(put.status, 201);
  assert.equal(put.headers.get('docker-content-digest'), sha256(body));
  const get = await fetch(`${w.url}/v2/smoke/img/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
  assert.equal(get.status, 200);
  assert.equal(await get.text(), body);
  assert.equal(get.headers.get('content-type'), OCI_MANIFEST);
});
