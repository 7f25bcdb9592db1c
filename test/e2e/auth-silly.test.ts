/**
 * `auth.silly` end to end: any non-empty Authorization header passes; none (or an empty one) gets a Bearer
 * challenge with realm, service and the requested scopes, and the 401 body Distribution sends, compared byte for
 * byte with `docker-registry serve` on the same config. The tutorial's snippet without `service` starts, with a
 * warning naming the default service, which the challenge then carries.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  answer,
  CHALLENGED_REQUESTS,
  DOCKER_REGISTRY_BIN,
  DOCKER_REGISTRY_MISSING,
  startDistributionWithAuth,
  type RunningDistribution,
} from './authcompat.js';
import { startWharf, testConfig, type Wharf } from './harness.js';

const REALM = 'https://auth.example.test/token';
const SERVICE = 'silly-service';

function config(silly: string): string {
  // No storage.delete: these tests look at challenges only.
  return testConfig({ logLevel: 'info', storage: '', extra: `auth:\n  silly:\n${silly}` });
}

/** A GET with exactly these headers (fetch cannot be trusted to send an empty header value). */
function rawGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; challenge: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('auth.silly', () => {
  let w: Wharf;
  const challengeBase = `Bearer realm="${REALM}",service="${SERVICE}"`;

  before(async () => {
    w = await startWharf({ config: config(`    realm: ${REALM}\n    service: ${SERVICE}\n`) });
  });

  after(async () => {
    await w?.cleanup();
  });

  test('without Authorization: a Bearer challenge with the scope and the 401 body', async () => {
    const upload = await answer(w.url, 'POST', '/v2/foo/blobs/uploads/');
    assert.equal(upload.status, 401);
    assert.equal(upload.challenge, `${challengeBase},scope="repository:foo:pull repository:foo:push"`);
    assert.equal(
      upload.body,
      '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Class":"","Name":"foo","Action":"pull"},{"Type":"repository","Class":"","Name":"foo","Action":"push"}]}]}\n',
    );
    const catalog = await answer(w.url, 'GET', '/v2/_catalog');
    assert.equal(catalog.status, 401);
    assert.equal(catalog.challenge, `${challengeBase},scope="registry:catalog:*"`);
    assert.equal(
      catalog.body,
      '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"registry","Class":"","Name":"catalog","Action":"*"}]}]}\n',
    );
    const base = await answer(w.url, 'GET', '/v2/');
    assert.equal(base.status, 401);
    assert.equal(base.challenge, challengeBase);
    assert.equal(base.body, '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n');
  });

  test('an empty Authorization header is no authorization', async () => {
    const r = await rawGet(`${w.url}/v2/_catalog`, { Authorization: '' });
    assert.equal(r.status, 401);
    assert.equal(r.challenge, `${challengeBase},scope="registry:catalog:*"`);
  });

  test('any non-empty Authorization header passes, whatever its scheme', async () => {
    for (const authorization of ['Bearer anything', 'Basic Zm9vOmJhcg==', 'x']) {
      const catalog = await answer(w.url, 'GET', '/v2/_catalog', { Authorization: authorization });
      assert.equal(catalog.status, 200, authorization);
      assert.deepEqual(JSON.parse(catalog.body), { repositories: [] });
      assert.equal(catalog.challenge, null);
      const upload = await fetch(`${w.url}/v2/silly/blobs/uploads/`, {
        method: 'POST',
        headers: { Authorization: authorization },
      });
      await upload.arrayBuffer();
      assert.equal(upload.status, 202, authorization);
      assert.match(upload.headers.get('location') ?? '', /\/v2\/silly\/blobs\/uploads\//);
    }
  });

  test(
    'the same challenges and bodies as docker-registry serve',
    { skip: DOCKER_REGISTRY_BIN ? false : DOCKER_REGISTRY_MISSING },
    async () => {
      let d: RunningDistribution | undefined;
      try {
        d = await startDistributionWithAuth(`  silly:\n    realm: ${REALM}\n    service: ${SERVICE}\n`);
        for (const { method, path } of CHALLENGED_REQUESTS) {
          const ours = await answer(w.url, method, path);
          const theirs = await answer(d.url, method, path);
          assert.deepEqual(ours, theirs, `${method} ${path}`);
          assert.equal(ours.status, 401, `${method} ${path}`);
        }
      } finally {
        await d?.stop();
      }
    },
  );
});

describe('auth.silly with only a realm (the tutorial snippet)', () => {
  let w: Wharf;

  before(async () => {
    w = await startWharf({ config: config(`    realm: silly-realm\n`) });
  });

  after(async () => {
    await w?.cleanup();
  });

  test('starts, warns that the service defaults, and the challenge carries that default', async () => {
    const r = await answer(w.url, 'GET', '/v2/');
    assert.equal(r.status, 401);
    const m = /^Bearer realm="silly-realm",service="([^"]+)"$/.exec(r.challenge ?? '');
    assert.ok(m, `challenge: ${r.challenge}`);
    const warning = w
      .output()
      .split('\n')
      .find((l) => l.includes('level=warning') && l.includes('auth.silly.service'));
    assert.ok(warning, `no warning about auth.silly.service in:\n${w.output()}`);
    assert.ok(warning.includes(m[1]), `the warning names the default service ${m[1]}: ${warning}`);
    assert.equal((await answer(w.url, 'GET', '/v2/', { Authorization: 'Bearer x' })).status, 200);
  });
});
