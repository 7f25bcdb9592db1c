/**
 * A lying upstream never poisons the cache: a tiny HTTP server plays a registry that sends a blob with wrong
 * bytes, a truncated blob, and manifests whose bytes do not match the digest asked for or announced. Each time the
 * client gets an error (never a complete-looking wrong blob: the connection is cut before the last byte), and
 * nothing is kept: no blob in storage, no upload left, no manifest or tag, and the next pull asks the upstream again.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertError, call } from './api.js';
import type { Wharf } from './harness.js';
import { sha256, startMirror } from './mirror-helpers.js';
import { eventually } from './ops.js';

const GOOD = Buffer.from('the real layer bytes '.repeat(5000));
const WRONG = Buffer.from(GOOD.toString().replace('real', 'fake'));
const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('{}'), size: 2 },
  layers: [],
});
const OTHER = MANIFEST.replace('"layers":[]', '"layers":[],"annotations":{"x":"y"}');

describe('pull-through cache in front of a lying upstream', () => {
  let liar: Server;
  let mirror: Wharf;
  const asked: string[] = [];

  before(async () => {
    liar = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      asked.push(`${req.method} ${path}`);
      const blob = /\/blobs\/(sha256:[0-9a-f]+)$/.exec(path)?.[1];
      if (path === '/v2/') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      if (path.startsWith('/v2/wrong/') && blob)
        return void res
          .writeHead(200, { 'Content-Length': WRONG.length })
          .end(req.method === 'HEAD' ? undefined : WRONG);
      if (path.startsWith('/v2/short/') && blob) {
        res.writeHead(200, { 'Content-Length': GOOD.length });
        res.write(GOOD.subarray(0, GOOD.length - 100));
        return void setTimeout(() => res.destroy(), 50);
      }
      if (path === '/v2/lie/manifests/v1') {
        // Announces the digest of MANIFEST, sends OTHER.
        return void res
          .writeHead(200, {
            'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
            'Docker-Content-Digest': sha256(MANIFEST),
            'Content-Length': OTHER.length,
          })
          .end(OTHER);
      }
      if (path === `/v2/lie/manifests/${sha256(MANIFEST)}`)
        return void res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }).end(OTHER);
      res
        .writeHead(404, { 'Content-Type': 'application/json' })
        .end('{"errors":[{"code":"NOT_FOUND","message":"no"}]}');
    });
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    mirror = await startMirror(`proxy:\n  remoteurl: http://127.0.0.1:${(liar.address() as { port: number }).port}\n`);
  });

  after(async () => {
    await mirror?.cleanup();
    liar?.closeAllConnections();
    await new Promise((r) => liar?.close(r));
  });

  const blobFile = (d: string) =>
    join(mirror.dataDir, 'docker/registry/v2/blobs/sha256', d.slice(7, 9), d.slice(7), 'data');
  const uploads = (repo: string) => {
    const dir = join(mirror.dataDir, 'docker/registry/v2/repositories', repo, '_uploads');
    return existsSync(dir) ? readdirSync(dir) : [];
  };

  /** GETs a blob; resolves with what arrived, or with the error that cut it. */
  async function pull(repo: string, d: string): Promise<{ status: number; bytes?: Buffer; error?: unknown }> {
    const r = await fetch(`${mirror.url}/v2/${repo}/blobs/${d}`);
    try {
      return { status: r.status, bytes: Buffer.from(await r.arrayBuffer()) };
    } catch (error) {
      return { status: r.status, error };
    }
  }

  for (const [repo, what] of [
    ['wrong', 'wrong bytes of the right length'],
    ['short', 'a body cut short'],
  ] as const) {
    test(`a blob with ${what}: the client's transfer fails, nothing is kept, the next pull asks again`, async () => {
      const d = sha256(GOOD);
      for (let i = 1; i <= 2; i++) {
        const got = await pull(repo, d);
        assert.ok(
          got.error !== undefined,
          `pull ${i} completed with ${got.bytes?.length} bytes: a client must not get a complete-looking wrong blob`,
        );
        assert.equal(
          asked.filter((a) => a === `GET /v2/${repo}/blobs/${d}`).length,
          i,
          'the refused blob was served from the cache',
        );
      }
      assert.equal(existsSync(blobFile(d)), false);
    });
  }

  test('no upload session is left behind by refused blobs', async () => {
    // Removed once the write into storage has ended, which can be just after the client saw its error.
    assert.ok(
      await eventually(() => uploads('wrong').length === 0 && uploads('short').length === 0),
      `left: ${uploads('wrong')} ${uploads('short')}`,
    );
  });

  test('a manifest whose bytes differ from the announced digest, or from the digest asked for: 503, nothing cached', async () => {
    assertError(await call(mirror.url, '/v2/lie/manifests/v1'), 503, 'UNAVAILABLE');
    assertError(await call(mirror.url, `/v2/lie/manifests/${sha256(MANIFEST)}`), 503, 'UNAVAILABLE');
    assertError(await call(mirror.url, `/v2/lie/manifests/${sha256(OTHER)}`), 404, 'MANIFEST_UNKNOWN');
    assert.equal(existsSync(join(mirror.dataDir, 'docker/registry/v2/repositories/lie')), false);
    assert.equal(existsSync(blobFile(sha256(OTHER))), false);
    assert.equal(existsSync(blobFile(sha256(MANIFEST))), false);
    assertError(await call(mirror.url, '/v2/lie/tags/list'), 404, 'NAME_UNKNOWN');
  });
});
