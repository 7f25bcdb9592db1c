/**
 * Error responses in process, byte for byte: the `{"errors":[...]}` body with a trailing newline, Content-Type
 * and Content-Length, Docker-Distribution-API-Version, the auth challenges and their 401 bodies (Distribution's
 * Go field names in `detail`), 429 with Retry-After, and failures of storage or of the code itself mapped to
 * UNAVAILABLE / UNKNOWN without leaking a message, a path or a stack to the client.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { openAccess } from '../auth/controller.js';
import { HealthChecks } from '../health.js';
import { createLogger } from '../log.js';
import { Metrics } from '../metrics.js';
import { Registry } from '../registry/registry.js';
import { UploadStateCodec } from '../registry/uploadstate.js';
import { StorageUnavailableError } from '../storage/driver.js';
import { InMemoryDriver } from '../storage/inmemory.js';
import { send, sha256, startTestRegistry, type Response, type TestRegistry } from './fixture.test.js';
import { createHandler } from './server.js';

function assertErrorResponse(r: Response, status: number, body: string): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.text, body);
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(r.headers['content-length'], String(Buffer.byteLength(body)));
  assert.equal(r.headers['docker-distribution-api-version'], 'registry/2.0');
}

describe('auth errors', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry({ auth: { silly: { realm: 'https://auth.example/token', service: 'wharf-test' } } });
  });
  after(() => reg.close());

  test("the catalog without credentials: 401, the Bearer challenge, Distribution's body", async () => {
    const r = await reg.req('GET', '/v2/_catalog');
    assertErrorResponse(
      r,
      401,
      '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"registry","Class":"","Name":"catalog","Action":"*"}]}]}\n',
    );
    assert.equal(
      r.headers['www-authenticate'],
      'Bearer realm="https://auth.example/token",service="wharf-test",scope="registry:catalog:*"',
    );
  });

  test('/v2/ without credentials: detail null, no scope', async () => {
    const r = await reg.req('GET', '/v2/');
    assertErrorResponse(
      r,
      401,
      '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n',
    );
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="https://auth.example/token",service="wharf-test"');
  });

  test('a push without credentials lists pull and push, and the mount source', async () => {
    const r = await reg.req('POST', `/v2/a/b/blobs/uploads/?mount=${sha256('x')}&from=c/d`);
    const access = (name: string, action: string) => ({ Type: 'repository', Class: '', Name: name, Action: action });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json(), {
      errors: [
        {
          code: 'UNAUTHORIZED',
          message: 'authentication required',
          detail: [access('a/b', 'pull'), access('a/b', 'push'), access('c/d', 'pull')],
        },
      ],
    });
    assert.equal(
      r.headers['www-authenticate'],
      'Bearer realm="https://auth.example/token",service="wharf-test",scope="repository:a/b:pull repository:a/b:push repository:c/d:pull"',
    );
    assert.equal((await reg.req('GET', '/v2/', { headers: { Authorization: 'anything' } })).status, 200);
  });

  test('HEAD gets the status and headers of the error without a body', async () => {
    const r = await reg.req('HEAD', '/v2/a/b/manifests/latest');
    assert.equal(r.status, 401);
    assert.equal(r.body.length, 0);
    assert.match(String(r.headers['www-authenticate']), /^Bearer /);
  });
});

describe('htpasswd errors', () => {
  let dir: string;
  let reg: TestRegistry;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-errors-'));
    await writeFile(join(dir, 'htpasswd'), `alice:${bcrypt.hashSync('right', 4)}\n`);
    reg = await startTestRegistry({
      auth: { htpasswd: { realm: 'test realm', path: join(dir, 'htpasswd') } },
      bruteforce: { maxfailures: 2, window: '1m', blockfor: '1m' },
    });
  });
  after(async () => {
    await reg.close();
    await rm(dir, { recursive: true, force: true });
  });

  const basic = (user: string, password: string) => ({
    Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
  });

  test('a wrong password is 401 with the Basic challenge; two more are 429 with Retry-After', async () => {
    const wrong = await reg.req('GET', '/v2/x/tags/list', { headers: basic('alice', 'wrong') });
    assertErrorResponse(
      wrong,
      401,
      '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Class":"","Name":"x","Action":"pull"}]}]}\n',
    );
    assert.equal(wrong.headers['www-authenticate'], 'Basic realm="test realm"');
    await reg.req('GET', '/v2/', { headers: basic('alice', 'wrong again') });
    const blocked = await reg.req('GET', '/v2/', { headers: basic('alice', 'right') });
    assert.equal(blocked.status, 429);
    const e = blocked.json().errors[0];
    assert.equal(e.code, 'TOOMANYREQUESTS');
    assert.match(e.message, /^too many failed login attempts; retry after \d+ seconds$/);
    assert.ok(Number(blocked.headers['retry-after']) > 0);
    assert.equal(blocked.headers['docker-distribution-api-version'], 'registry/2.0');
  });
});

/** The real handler over a registry whose storage fails as `fail` says, on a loopback port. */
async function brokenRegistry(
  fail: (path: string) => Error | null,
): Promise<{ base: string; logs: string[]; close(): Promise<void> }> {
  class Broken extends InMemoryDriver {
    override async stat(path: string) {
      const err = fail(path);
      if (err) throw err;
      return super.stat(path);
    }
    override async getContent(path: string) {
      const err = fail(path);
      if (err) throw err;
      return super.getContent(path);
    }
  }
  const logs: string[] = [];
  const log = createLogger({
    level: 'info',
    formatter: 'json',
    destination: new Writable({ write: (c, _e, done) => (logs.push(String(c)), done()) }),
  });
  const driver = new Broken();
  const registry = new Registry(driver, {
    deleteEnabled: true,
    readOnly: false,
    redirect: false,
    validation: { disabled: false, urls: { allow: [], deny: [] }, indexes: { platforms: 'all', platformlist: [] } },
  });
  const metrics = new Metrics(false);
  const health = new HealthChecks(driver, { enabled: false, intervalMs: 60_000, threshold: 1 }, log);
  const handler = createHandler({
    app: {
      registry,
      codec: new UploadStateCodec('secret'),
      log,
      prefix: '',
      relativeUrls: false,
      catalogMaxEntries: 1000,
    },
    auth: openAccess,
    readOnly: false,
    headers: {},
    accessLog: false,
    metrics,
    probes: { health, metrics, metricsPath: null, ready: () => true },
  });
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    logs,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('failures inside the registry', () => {
  const SECRET = '/srv/secret/storage/path exploded';

  test("an unexpected error is 500 UNKNOWN with the table's message only; the log has the details", async () => {
    const broken = await brokenRegistry((p) => (p.includes('_manifests') ? new Error(SECRET) : null));
    try {
      const r = await send(broken.base, 'GET', '/v2/x/manifests/latest');
      assertErrorResponse(r, 500, '{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}\n');
      assert.ok(!r.text.includes('secret') && !r.text.includes('at '), 'nothing of the failure reaches the client');
      assert.ok(
        broken.logs.some((l) => l.includes(SECRET)),
        'the failure is logged',
      );
    } finally {
      await broken.close();
    }
  });

  test('storage unavailable is 503 UNAVAILABLE', async () => {
    const broken = await brokenRegistry(() => new StorageUnavailableError('inmemory', new Error(SECRET)));
    try {
      const r = await send(broken.base, 'HEAD', `/v2/x/blobs/${sha256('b')}`);
      assert.equal(r.status, 503);
      const g = await send(broken.base, 'GET', `/v2/x/blobs/${sha256('b')}`);
      assertErrorResponse(
        g,
        503,
        '{"errors":[{"code":"UNAVAILABLE","message":"storage is unavailable, retry later"}]}\n',
      );
    } finally {
      await broken.close();
    }
  });
});
