/**
 * Hostile input (issue 12): descriptor sizes that are not safe integers, JSON nested beyond the limit, bodies
 * longer or shorter than their Content-Length, stacked transfer codings, duplicated Host, a request line without
 * version, absolute-form targets (ours: served; another origin: never proxied) and CONNECT. Each gets the
 * registry's JSON error, stores nothing, and the process keeps answering.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { makeImage, OCI_MANIFEST, sha256, startWharf, type Wharf } from './harness.js';
import { assertError, call } from './api.js';
import { alive, assertJsonError, firstResponse, raw, repoLinks } from './robust.js';

let w: Wharf;
let image: { manifest: Record<string, unknown>; config: string; layer: string };
before(async () => {
  w = await startWharf();
  image = await makeImage(w.url, 'hostile/base', 'h');
});
after(async () => {
  await w?.cleanup();
});

/** Links the repository holds apart from the blobs pushed by makeImage. */
function manifestLinks(name: string): string[] {
  return repoLinks(w.dataDir, name).filter((f) => !f.startsWith('_layers'));
}

async function putManifest(name: string, ref: string, body: string) {
  return call(w.url, `/v2/${name}/manifests/${ref}`, {
    method: 'PUT',
    body,
    headers: { 'Content-Type': OCI_MANIFEST },
  });
}

describe('descriptor sizes', () => {
  for (const [label, size] of [
    ['1e30', '1e30'],
    ['2^70 written out', '1180591620717411303424'],
    ['2^53', '9007199254740992'],
    ['-1', '-1'],
    ['1.5', '1.5'],
  ] as const) {
    test(`a size of ${label} is MANIFEST_INVALID and nothing is stored`, async () => {
      const text = JSON.stringify(image.manifest).replace(/"size":(\d+)\}\]/, `"size":${size}}]`);
      assert.ok(text.includes(`"size":${size}`), text);
      assertError(await putManifest('hostile/size', 'latest', text), 400, 'MANIFEST_INVALID');
      assertError(await putManifest('hostile/size', sha256(text), text), 400, 'MANIFEST_INVALID');
      assert.deepEqual(manifestLinks('hostile/size'), []);
    });
  }

  test('the largest safe integer is a valid size', async () => {
    // Sizes are not compared with the stored blobs (as in Distribution): only the grammar is at stake here.
    const text = JSON.stringify(image.manifest).replace(/"size":(\d+)\}\]/, `"size":${Number.MAX_SAFE_INTEGER}}]`);
    const r = await putManifest('hostile/base', 'max-size', text);
    assert.equal(r.status, 201, r.text);
  });
});

describe('JSON nesting', () => {
  const deep = (n: number, open: string, close: string) => open.repeat(n) + close.repeat(n);
  const cases: Array<[string, () => string]> = [
    ['[[[...]]] 100,000 deep as the whole body', () => deep(100_000, '[', ']')],
    ['{"a":{"a":...}} 100,000 deep as the whole body', () => '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)],
    [
      '100,000 deep arrays in an extra member',
      () => JSON.stringify({ ...image.manifest, extra: 0 }).replace('"extra":0', `"extra":${deep(100_000, '[', ']')}`),
    ],
    [
      '65 deep objects in an annotation-like member',
      () =>
        JSON.stringify({ ...image.manifest, extra: 0 }).replace(
          '"extra":0',
          `"extra":${'{"a":'.repeat(64)}1${'}'.repeat(64)}`,
        ),
    ],
  ];
  for (const [label, body] of cases) {
    test(`${label} is MANIFEST_INVALID and nothing is stored`, async () => {
      const text = body();
      assertError(await putManifest('hostile/deep', 'latest', text), 400, 'MANIFEST_INVALID');
      assert.deepEqual(manifestLinks('hostile/deep'), []);
    });
  }

  test('brackets inside strings do not count, and 60 levels are accepted', async () => {
    const annotations = { note: '['.repeat(500) + '{'.repeat(500) + '\\"[' };
    const ok = JSON.stringify({ ...image.manifest, annotations, extra: 0 }).replace(
      '"extra":0',
      `"extra":${'['.repeat(60)}${']'.repeat(60)}`,
    );
    const r = await putManifest('hostile/base', 'deep-ok', ok);
    assert.equal(r.status, 201, r.text);
  });
});

describe('framing', () => {
  test('a body longer than its Content-Length gets the JSON error body and stores nothing', async () => {
    const body = JSON.stringify(image.manifest);
    const req = `PUT /v2/hostile/long/manifests/latest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${OCI_MANIFEST}\r\nContent-Length: 10\r\n\r\n${body}`;
    const r = await raw(w.port, req);
    assertJsonError(firstResponse(r.text), [400], 'longer body');
    assert.deepEqual(manifestLinks('hostile/long'), []);
  });

  test('a body shorter than its Content-Length gets the JSON error body and stores nothing', async () => {
    const body = JSON.stringify(image.manifest);
    const req = `PUT /v2/hostile/short/manifests/latest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${OCI_MANIFEST}\r\nContent-Length: ${body.length + 50}\r\n\r\n${body}`;
    const r = await raw(w.port, req);
    assertJsonError(firstResponse(r.text), [400], 'shorter body');
    assert.deepEqual(manifestLinks('hostile/short'), []);
  });

  test('a blob upload shorter than its Content-Length commits nothing', async () => {
    const data = 'short blob body';
    const req = `POST /v2/hostile/shortblob/blobs/uploads/?digest=${sha256(data + 'xxxxx')} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${data.length + 5}\r\n\r\n${data}`;
    assertJsonError(firstResponse((await raw(w.port, req)).text), [400, 404], 'short blob');
    assert.deepEqual(repoLinks(w.dataDir, 'hostile/shortblob'), []);
  });

  for (const te of ['gzip, chunked', 'gzip', 'chunked, chunked', 'identity', 'x-custom']) {
    test(`Transfer-Encoding: ${te} is refused with the JSON error body and stores nothing`, async () => {
      const data = 'chunky';
      const req = `POST /v2/hostile/te/blobs/uploads/?digest=${sha256(data)} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: ${te}\r\n\r\n6\r\n${data}\r\n0\r\n\r\n`;
      const r = firstResponse((await raw(w.port, req)).text);
      assertJsonError(r, [400, 501], te);
      assert.deepEqual(repoLinks(w.dataDir, 'hostile/te'), []);
    });
  }

  test('chunked alone still works', async () => {
    const data = 'chunky';
    const req = `POST /v2/hostile/te-ok/blobs/uploads/?digest=${sha256(data)} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n6\r\n${data}\r\n0\r\n\r\n`;
    // Kept open: Node abandons a request whose client half-closes before an asynchronous answer.
    assert.equal(firstResponse((await raw(w.port, req, { keepOpen: true })).text)?.status, 201);
  });

  test('two Host headers are refused with 400 and the JSON error body', async () => {
    for (const hosts of ['Host: a\r\nHost: b', 'Host: a\r\nHost: a', 'host: a\r\nHOST: b']) {
      const r = await raw(w.port, `GET /v2/ HTTP/1.1\r\n${hosts}\r\n\r\n`);
      assertJsonError(firstResponse(r.text), [400], hosts);
    }
    const data = 'dup host';
    const r = await raw(
      w.port,
      `POST /v2/hostile/host/blobs/uploads/?digest=${sha256(data)} HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: ${data.length}\r\n\r\n${data}`,
    );
    assertJsonError(firstResponse(r.text), [400], 'dup host push');
    assert.deepEqual(repoLinks(w.dataDir, 'hostile/host'), []);
  });

  test('an HTTP/1.1 request without Host is refused with the JSON error body', async () => {
    assertJsonError(firstResponse((await raw(w.port, 'GET /v2/ HTTP/1.1\r\n\r\n')).text), [400], 'no host');
  });

  test('a request line without an HTTP version is refused or closed, never answered 200', async () => {
    for (const line of ['GET /v2/\r\n\r\n', 'GET /v2/\r\n', 'GET /v2/_catalog\r\n\r\n']) {
      const r = await raw(w.port, line);
      const res = firstResponse(r.text);
      if (res) assertJsonError(res, [400], JSON.stringify(line));
      else assert.notEqual(r.end, 'timeout', `${JSON.stringify(line)}: hung`);
    }
  });

  test('CONNECT gets 405 or 400 with the JSON error body', async () => {
    for (const target of ['127.0.0.1:22', `127.0.0.1:${w.port}`, 'example.com:443']) {
      const r = await raw(w.port, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
      assertJsonError(firstResponse(r.text), [400, 405], `CONNECT ${target}`);
    }
  });
});

describe('absolute-form targets', () => {
  let other: Server;
  let otherPort = 0;
  let contacted = 0;
  before(async () => {
    other = createServer((s) => {
      contacted++;
      s.destroy();
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    otherPort = (other.address() as { port: number }).port;
  });
  after(() => other?.close());

  test('one for the registry itself is served as its path', async () => {
    for (const authority of [`127.0.0.1:${w.port}`, `localhost:${w.port}`]) {
      const r = firstResponse(
        (await raw(w.port, `GET http://${authority}/v2/ HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`))
          .text,
      );
      assert.equal(r?.status, 200, `${authority}: ${r?.body}`);
      assert.equal(r?.body, '{}');
    }
    const tags = firstResponse(
      (
        await raw(
          w.port,
          `GET http://127.0.0.1:${w.port}/v2/hostile/base/tags/list?n=5 HTTP/1.1\r\nHost: ignored.example\r\nConnection: close\r\n\r\n`,
          { keepOpen: true },
        )
      ).text,
    );
    assert.ok(tags?.status === 200 || tags?.status === 404, tags?.body);
    assert.match(tags!.headers['content-type'] ?? '', /json/);
  });

  test('a push by absolute-form answers Locations on the target authority', async () => {
    const data = 'absolute push';
    const r = firstResponse(
      (
        await raw(
          w.port,
          `POST http://127.0.0.1:${w.port}/v2/hostile/abs/blobs/uploads/?digest=${sha256(data)} HTTP/1.1\r\nHost: 127.0.0.1:${w.port}\r\nContent-Length: ${data.length}\r\nConnection: close\r\n\r\n${data}`,
          { keepOpen: true },
        )
      ).text,
    );
    assert.equal(r?.status, 201, r?.body);
    assert.equal(r?.headers.location, `http://127.0.0.1:${w.port}/v2/hostile/abs/blobs/${sha256(data)}`);
  });

  test('one for another origin is refused with the JSON error body and never proxied', async () => {
    for (const target of [
      `http://127.0.0.1:${otherPort}/v2/`,
      `http://127.0.0.1:${otherPort}/`,
      'http://example.com/v2/',
      `https://127.0.0.1:${otherPort}/v2/`,
      `ftp://127.0.0.1:${otherPort}/`,
    ]) {
      const r = firstResponse(
        (await raw(w.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${otherPort}\r\nConnection: close\r\n\r\n`)).text,
      );
      assert.ok(r, target);
      assert.ok(r.status === 400 || r.status === 404, `${target}: ${r.status}`);
      assertJsonError(r, [400, 404], target);
    }
    assert.equal(contacted, 0, 'wharf connected to the other origin');
  });
});

test('after all of the above the same process answers, and nothing crashed', async () => {
  assert.ok(alive(w.proc.pid!));
  assert.equal(w.proc.exitCode, null);
  assert.equal((await call(w.url, '/v2/')).status, 200);
  assert.doesNotMatch(w.output(), /TypeError|RangeError|ReferenceError|unexpected error/);
});
