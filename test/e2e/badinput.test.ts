/**
 * Bad input: malformed and unsupported digests, invalid repository names (path traversal, upper case, too
 * long, stray separators), invalid tags, unknown routes and methods. Each is refused with the spec's error,
 * nothing reaches storage, no body leaks a stack trace, and the process keeps answering.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  makeImage,
  OCI_MANIFEST,
  pushManifest,
  sha256,
  startWharf,
  storedRepositories,
  type Wharf,
} from './harness.js';
import { assertError, assertNoStack, call, rawHttp } from './api.js';

let w: Wharf;
let image: { manifest: Record<string, unknown> };
before(async () => {
  w = await startWharf();
  image = await makeImage(w.url, 'ok/repo', 'bad');
});
after(async () => {
  await w?.cleanup();
});

const HEX = 'a'.repeat(64);

describe('digests', () => {
  const bad = [
    'sha256:abc',
    `sha256:${HEX.slice(1)}`,
    `sha256:${HEX.toUpperCase()}`,
    `sha256:${'g'.repeat(64)}`,
    `sha256:${HEX}0`,
    'sha256',
    `:${HEX}`,
    `SHA256:${HEX}`,
  ];
  const unsupported = ['md5:d41d8cd98f00b204e9800998ecf8427e', `sha1:${'a'.repeat(40)}`, `foo:${HEX}`];

  for (const d of [...bad, ...unsupported]) {
    test(`${d.slice(0, 24)}... is DIGEST_INVALID for blobs, manifests, referrers, uploads and mounts`, async () => {
      const enc = encodeURIComponent(d);
      assertError(await call(w.url, `/v2/ok/repo/blobs/${enc}`), 400, 'DIGEST_INVALID');
      assertError(await call(w.url, `/v2/ok/repo/blobs/${enc}`, { method: 'DELETE' }), 400, 'DIGEST_INVALID');
      if (d.includes(':')) {
        assertError(
          await call(w.url, `/v2/ok/repo/manifests/${enc}`, { headers: { Accept: OCI_MANIFEST } }),
          400,
          'DIGEST_INVALID',
        );
        assertError(await pushManifestRes('ok/repo', enc), 400, 'DIGEST_INVALID');
      }
      assertError(await call(w.url, `/v2/ok/repo/referrers/${enc}`), 400, 'DIGEST_INVALID');
      assertError(
        await call(w.url, `/v2/ok/bad-digest/blobs/uploads/?digest=${enc}`, { method: 'POST', body: 'data' }),
        400,
        'DIGEST_INVALID',
      );
      assert.ok(!storedRepositories(w.dataDir).includes('ok/bad-digest') || (await blobCount('ok/bad-digest')) === 0);
    });
  }

  test('a completion PUT with an unsupported algorithm commits nothing', async () => {
    const start = await call(w.url, '/v2/ok/algo/blobs/uploads/', { method: 'POST' });
    const loc = new URL(start.headers.get('location')!, w.url);
    loc.searchParams.set('digest', 'md5:d41d8cd98f00b204e9800998ecf8427e');
    assertError(
      await call(w.url, `${loc.pathname}${loc.search}`, { method: 'PUT', body: 'data' }),
      400,
      'DIGEST_INVALID',
    );
    assert.equal(await blobCount('ok/algo'), 0);
  });
});

async function pushManifestRes(name: string, ref: string) {
  const r = await pushManifest(w.url, name, ref, JSON.stringify(image.manifest), OCI_MANIFEST);
  return { status: r.status, headers: r.headers, text: await r.text(), body: Buffer.alloc(0) };
}

async function blobCount(name: string): Promise<number> {
  const dir = join(w.dataDir, 'docker/registry/v2/repositories', name, '_layers/sha256');
  return existsSync(dir) ? readdirSync(dir).length : 0;
}

describe('repository names', () => {
  const invalid = [
    'Upper/case',
    'a/B',
    'a..b',
    'a/-b',
    'a-/b',
    '_a',
    'a_',
    'a//b',
    'a/.b',
    'a___b',
    `${'a'.repeat(200)}/${'b'.repeat(56)}`,
    '%zz',
    'a%00b',
  ];

  for (const name of invalid) {
    test(`${name.slice(0, 30)} is NAME_INVALID on every route and stores nothing`, async () => {
      const d = sha256('x');
      const requests: Array<[string, string, RequestInit?]> = [
        ['GET', `/v2/${name}/tags/list`],
        ['GET', `/v2/${name}/manifests/latest`],
        [
          'PUT',
          `/v2/${name}/manifests/latest`,
          { body: JSON.stringify(image.manifest), headers: { 'Content-Type': OCI_MANIFEST } },
        ],
        ['GET', `/v2/${name}/blobs/${d}`],
        ['POST', `/v2/${name}/blobs/uploads/`],
        ['POST', `/v2/${name}/blobs/uploads/?digest=${d}`, { body: 'x' }],
        ['GET', `/v2/${name}/referrers/${d}`],
      ];
      for (const [method, path, init] of requests) {
        const r = await call(w.url, path, { method, ...(init ?? {}) });
        assertError(r, 400, 'NAME_INVALID');
      }
      assert.deepEqual(
        storedRepositories(w.dataDir).filter((n) => !n.startsWith('ok/')),
        [],
      );
    });
  }

  test('a name of exactly 255 characters is accepted', async () => {
    const name = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    assert.equal(name.length, 255);
    const r = await call(w.url, `/v2/${name}/blobs/uploads/`, { method: 'POST' });
    assert.equal(r.status, 202);
  });

  test('an invalid mount source is NAME_INVALID', async () => {
    assertError(
      await call(w.url, `/v2/ok/mount/blobs/uploads/?mount=${sha256('x')}&from=Bad/Name`, { method: 'POST' }),
      400,
      'NAME_INVALID',
    );
  });

  test('path traversal with .. is refused and nothing is written outside the data directory', async () => {
    const d = sha256('escape');
    for (const path of [
      `/v2/ok/../../../escape/blobs/uploads/?digest=${d}`,
      `/v2/../escape/blobs/uploads/?digest=${d}`,
      `/v2/ok/%2e%2e/%2e%2e/escape/blobs/uploads/?digest=${d}`,
    ]) {
      const res = await rawHttp(
        w.port,
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 6\r\nConnection: close\r\n\r\nescape`,
      );
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(res)?.[1]);
      assert.ok(status === 400 || status === 404, `${path}: ${res}`);
      if (status === 400) assert.match(res, /"code":"NAME_INVALID"/);
      assertNoStack(res);
    }
    assert.ok(!existsSync(join(w.dir, 'escape')));
    assert.ok(!existsSync(join(w.dataDir, 'escape')));
    assert.ok(!existsSync(join(w.dataDir, 'docker/registry/v2/escape')));
    assert.ok(!storedRepositories(w.dataDir).some((n) => n.includes('escape')));
  });
});

describe('tags', () => {
  for (const tag of ['-lead', '.lead', 'a'.repeat(129), 'bad!tag', 'sp%20ace', 'tab%09']) {
    test(`tag ${tag.slice(0, 20)} is TAG_INVALID on push, names no manifest on pull and delete, and is not created`, async () => {
      assertError(await pushManifestRes('ok/repo', tag), 400, 'TAG_INVALID');
      // Distribution answers 404 (its route does not match) and the OCI conformance suite expects 404.
      assertError(
        await call(w.url, `/v2/ok/repo/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } }),
        404,
        'MANIFEST_UNKNOWN',
      );
      assert.equal((await call(w.url, `/v2/ok/repo/manifests/${tag}`, { method: 'HEAD' })).status, 404);
      assertError(await call(w.url, `/v2/ok/repo/manifests/${tag}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });
  }

  test('tags of 128 characters and with _ . - are valid', async () => {
    for (const tag of ['a'.repeat(128), '_x', 'A.b-c_D']) {
      const r = await pushManifestRes('ok/repo', tag);
      assert.equal(r.status, 201, r.text);
    }
    const list = JSON.parse((await call(w.url, '/v2/ok/repo/tags/list')).text).tags as string[];
    assert.deepEqual(list, ['A.b-c_D', '_x', 'a'.repeat(128)]);
  });
});

describe('routes and methods', () => {
  test('an unknown route is a plain 404 with the API version header', async () => {
    for (const path of ['/v2/ok/repo/unknown', '/v3/', '/v2/ok/repo/blobs/uploads/a/b']) {
      const r = await call(w.url, path);
      assert.equal(r.status, 404, path);
      assert.equal(r.text, '404 page not found\n');
      assert.equal(r.headers.get('docker-distribution-api-version'), 'registry/2.0');
    }
  });

  test('a method a route does not serve is 405 UNSUPPORTED', async () => {
    for (const [method, path] of [
      ['POST', '/v2/ok/repo/manifests/latest'],
      ['PUT', `/v2/ok/repo/blobs/${sha256('x')}`],
      ['DELETE', '/v2/ok/repo/tags/list'],
      ['POST', '/v2/_catalog'],
    ]) {
      assertError(await call(w.url, path, { method }), 405, 'UNSUPPORTED');
    }
  });

  test('garbage Content-Range and non-numeric pagination are client errors, not 500s', async () => {
    const start = await call(w.url, '/v2/ok/range/blobs/uploads/', { method: 'POST' });
    const loc = new URL(start.headers.get('location')!, w.url);
    const r = await call(w.url, `${loc.pathname}${loc.search}`, {
      method: 'PATCH',
      body: 'abc',
      headers: { 'Content-Range': 'bytes=garbage' },
    });
    assertError(r, 416, 'RANGE_INVALID');
    assertError(await call(w.url, '/v2/_catalog?n=1e3'), 400, 'PAGINATION_NUMBER_INVALID');
  });

  test('after all of the above the process still answers and stored nothing for invalid names', async () => {
    assert.equal(w.proc.exitCode, null);
    const r = await call(w.url, '/v2/');
    assert.equal(r.status, 200);
    for (const name of storedRepositories(w.dataDir)) assert.match(name, /^(ok\/|a{127}\/)/);
    assert.doesNotMatch(w.output(), /TypeError|RangeError|ReferenceError/);
  });
});
