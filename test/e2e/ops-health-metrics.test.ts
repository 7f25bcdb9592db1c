/**
 * Health and metrics end to end against the real process: `/debug/health` on `http.debug.addr` (Distribution's
 * `{}` when healthy, `{"storagedriver_filesystem": "..."}` with 503 when the root cannot be stat'ed for
 * `threshold` runs), `/livez` and `/readyz` on both ports, and the Prometheus counters after known traffic.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import {
  freePort,
  OCI_CONFIG,
  OCI_LAYER,
  OCI_MANIFEST,
  sha256,
  startWharf,
  testConfig,
  type Wharf,
} from './harness.js';
import { eventually, metric, scrape, slowRequest, type Sample } from './ops.js';

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  const r = await fetch(url, init);
  return { status: r.status, text: await r.text() };
}

function config(
  debugPort: number,
  extra = '',
  debug = `  debug:\n    addr: 127.0.0.1:${debugPort}\n    prometheus:\n      enabled: true\n`,
): string {
  return testConfig({ logLevel: 'info', http: debug, extra });
}

describe('health checks', () => {
  let w: Wharf;
  let debug: string;
  before(async () => {
    const port = await freePort();
    debug = `http://127.0.0.1:${port}`;
    w = await startWharf({
      config: config(port, 'health:\n  storagedriver:\n    enabled: true\n    interval: 200ms\n    threshold: 2\n'),
    });
    mkdirSync(w.dataDir, { recursive: true });
  });
  after(() => w.cleanup());

  test('/debug/health answers {} with 200 on the debug port', async () => {
    const r = await get(`${debug}/debug/health`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text), {});
  });

  test('/livez and /readyz answer 200 on both ports', async () => {
    for (const base of [w.url, debug]) {
      for (const path of ['/livez', '/readyz']) {
        const r = await get(`${base}${path}`);
        assert.equal(r.status, 200, `${base}${path}: ${r.text}`);
      }
    }
  });

  test('an unusable storage root makes /debug/health and /readyz fail with 503, and recovery makes them pass', async () => {
    // A missing root is healthy (Distribution: "/" not found means the backend answered), so the root is
    // replaced by a symlink to itself: stat fails with ELOOP, a real error.
    const moved = `${w.dataDir}.moved`;
    renameSync(w.dataDir, moved);
    symlinkSync(w.dataDir, w.dataDir);
    try {
      assert.ok(
        await eventually(async () => (await get(`${debug}/debug/health`)).status === 503),
        'health never failed',
      );
      const r = await get(`${debug}/debug/health`);
      const body = JSON.parse(r.text) as Record<string, string>;
      assert.deepEqual(Object.keys(body), ['storagedriver_filesystem']);
      assert.match(body.storagedriver_filesystem, /ELOOP|too many/i);
      assert.equal((await get(`${w.url}/readyz`)).status, 503);
      assert.equal((await get(`${debug}/readyz`)).status, 503);
      assert.equal((await get(`${w.url}/livez`)).status, 200, 'liveness does not depend on storage');
      assert.match(w.output(), /storage driver filesystem is unhealthy/);
    } finally {
      rmSync(w.dataDir);
      renameSync(moved, w.dataDir);
    }
    assert.ok(
      await eventually(async () => (await get(`${debug}/debug/health`)).status === 200),
      'health never recovered',
    );
    assert.deepEqual(JSON.parse((await get(`${debug}/debug/health`)).text), {});
    assert.equal((await get(`${w.url}/readyz`)).status, 200);
    assert.match(w.output(), /storage driver filesystem is healthy again/);
  });
});

describe('metrics', () => {
  const USER = 'metrics-user';
  const PASSWORD = 'metrics-Pa55';
  const auth = { Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };
  let w: Wharf;
  let debug: string;
  let dir: string;
  const configBytes = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const layerBytes = Buffer.from('metrics-layer-'.repeat(50));
  let manifest: string;

  async function pushBlob(data: Buffer): Promise<string> {
    const digest = sha256(data);
    const r = await get(`${w.url}/v2/m/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: new Uint8Array(data),
      headers: { ...auth, 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(r.status, 201, r.text);
    return digest;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-'));
    writeFileSync(join(dir, 'htpasswd'), `${USER}:${bcrypt.hashSync(PASSWORD, 5)}\n`);
    const port = await freePort();
    debug = `http://127.0.0.1:${port}`;
    w = await startWharf({
      dir,
      config: config(port, `auth:\n  htpasswd:\n    realm: r\n    path: {{dir}}/htpasswd\n`),
    });
    manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: await pushBlob(configBytes), size: configBytes.length },
      layers: [{ mediaType: OCI_LAYER, digest: await pushBlob(layerBytes), size: layerBytes.length }],
    });
    const r = await get(`${w.url}/v2/m/manifests/v1`, {
      method: 'PUT',
      body: manifest,
      headers: { ...auth, 'Content-Type': OCI_MANIFEST },
    });
    assert.equal(r.status, 201, r.text);
  });
  after(() => w.cleanup());

  const delta = (a: Sample[], b: Sample[], name: string, labels: Record<string, string> = {}) =>
    metric(b, name, labels) - metric(a, name, labels);

  test('requests, durations, bytes and auth failures count known traffic', async () => {
    const before = await scrape(`${debug}/metrics`);
    for (let i = 0; i < 3; i++)
      assert.equal(
        (await get(`${w.url}/v2/m/manifests/v1`, { headers: { ...auth, Accept: OCI_MANIFEST } })).status,
        200,
      );
    for (let i = 0; i < 2; i++)
      assert.equal(
        (await get(`${w.url}/v2/m/blobs/${sha256(layerBytes)}`, { method: 'HEAD', headers: auth })).status,
        200,
      );
    assert.equal((await get(`${w.url}/v2/m/blobs/${sha256(layerBytes)}`, { headers: auth })).status, 200);
    const wrong = { Authorization: `Basic ${Buffer.from(`${USER}:wrong`).toString('base64')}` };
    assert.equal((await get(`${w.url}/v2/`, { headers: wrong })).status, 401);
    assert.equal((await get(`${w.url}/v2/`)).status, 401, 'anonymous challenge');
    const small = Buffer.from('one small upload');
    await pushBlob(small);
    const after = await scrape(`${debug}/metrics`);

    const requests = 'registry_http_requests_total';
    assert.equal(delta(before, after, requests, { method: 'GET', route: 'manifest', code: '200' }), 3);
    assert.equal(delta(before, after, requests, { method: 'HEAD', route: 'blob', code: '200' }), 2);
    assert.equal(delta(before, after, requests, { method: 'GET', route: 'base', code: '401' }), 2);
    assert.equal(delta(before, after, requests, { method: 'POST', route: 'uploadStart', code: '201' }), 1);
    assert.equal(
      delta(before, after, 'registry_http_request_duration_seconds_count', { method: 'GET', route: 'manifest' }),
      3,
    );
    assert.equal(
      delta(before, after, 'registry_http_request_duration_seconds_count', { method: 'HEAD', route: 'blob' }),
      2,
    );
    assert.ok(
      delta(before, after, 'registry_http_request_duration_seconds_sum', { method: 'GET', route: 'manifest' }) > 0,
    );
    // Three manifest bodies out; HEAD sends no body, so only the one blob GET counts for the blob route.
    assert.equal(
      delta(before, after, 'registry_http_response_bytes_total', { route: 'manifest' }),
      3 * Buffer.byteLength(manifest),
    );
    assert.equal(delta(before, after, 'registry_http_response_bytes_total', { route: 'blob' }), layerBytes.length);
    assert.equal(delta(before, after, 'registry_http_request_bytes_total', { route: 'uploadStart' }), small.length);
    // A wrong password is an authentication failure; the anonymous first request every client makes is not.
    assert.equal(delta(before, after, 'registry_auth_failures_total', { method: 'htpasswd', code: 'UNAUTHORIZED' }), 1);
    // The upload wrote through the driver (which calls a given request makes is the registry's business).
    const writes = ['putcontent', 'append', 'move'].reduce(
      (n, action) =>
        n +
        delta(before, after, 'registry_storage_action_seconds_count', { driver: 'filesystem', action, outcome: 'ok' }),
      0,
    );
    assert.ok(writes >= 1, 'no storage write was timed');
    const actions = new Set(
      after.filter((x) => x.name === 'registry_storage_action_seconds_count').map((x) => x.labels.action),
    );
    for (const a of actions)
      assert.match(a, /^(getcontent|putcontent|reader|append|stat|list|move|delete|redirecturl)$/);
  });

  test('registry_uploads_in_progress is 0 at rest and 1 during a streaming PATCH; streamed bytes are counted', async () => {
    const start = await fetch(`${w.url}/v2/m/blobs/uploads/`, { method: 'POST', headers: auth });
    await start.arrayBuffer();
    assert.equal(start.status, 202);
    const location = start.headers.get('location')!;
    const before = await scrape(`${debug}/metrics`);
    assert.equal(metric(before, 'registry_uploads_in_progress'), 0);
    const patch = slowRequest(new URL(location, w.url).href, 'PATCH', auth);
    await patch.write('a'.repeat(1000));
    assert.ok(
      await eventually(async () => metric(await scrape(`${debug}/metrics`), 'registry_uploads_in_progress') === 1),
      'gauge never reached 1',
    );
    await patch.write('b'.repeat(500));
    patch.end();
    assert.equal((await patch.response).status, 202);
    assert.ok(
      await eventually(async () => metric(await scrape(`${debug}/metrics`), 'registry_uploads_in_progress') === 0),
      'gauge never went back to 0',
    );
    const after = await scrape(`${debug}/metrics`);
    assert.equal(delta(before, after, 'registry_http_request_bytes_total', { route: 'upload' }), 1500);
    assert.ok(delta(before, after, 'registry_storage_action_seconds_count', { action: 'append', outcome: 'ok' }) >= 1);
  });

  test('the metrics path is not served on the registry port', async () => {
    assert.equal((await get(`${w.url}/metrics`)).status, 404);
  });
});

describe('metrics configuration', () => {
  test('prometheus disabled: 404 at the path, health still served', async () => {
    const port = await freePort();
    const w = await startWharf({
      config: config(port, '', `  debug:\n    addr: 127.0.0.1:${port}\n    prometheus:\n      enabled: false\n`),
    });
    try {
      assert.equal((await get(`http://127.0.0.1:${port}/metrics`)).status, 404);
      assert.equal((await get(`http://127.0.0.1:${port}/debug/health`)).status, 200);
    } finally {
      await w.cleanup();
    }
  });

  test('a custom path serves the metrics there and only there', async () => {
    const port = await freePort();
    const w = await startWharf({
      config: config(
        port,
        '',
        `  debug:\n    addr: 127.0.0.1:${port}\n    prometheus:\n      enabled: true\n      path: /internal/prom\n`,
      ),
    });
    try {
      const r = await fetch(`http://127.0.0.1:${port}/internal/prom`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(await r.text(), /^# HELP registry_http_requests_total /m);
      assert.equal((await get(`http://127.0.0.1:${port}/metrics`)).status, 404);
    } finally {
      await w.cleanup();
    }
  });
});
