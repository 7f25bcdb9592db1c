import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { OciError } from '../oci/errors.js';
import { checkRequest, localAuthorities, withPort } from './framing.js';

function req(
  url: string,
  rawHeaders: string[],
  opts: { method?: string; version?: [number, number] } = {},
): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const k = rawHeaders[i].toLowerCase();
    headers[k] = headers[k] === undefined ? rawHeaders[i + 1] : `${headers[k]}, ${rawHeaders[i + 1]}`;
  }
  const [major, minor] = opts.version ?? [1, 1];
  return {
    url,
    rawHeaders,
    headers,
    method: opts.method ?? 'GET',
    httpVersionMajor: major,
    httpVersionMinor: minor,
    httpVersion: `${major}.${minor}`,
  } as unknown as IncomingMessage;
}

const own = (a: string) => localAuthorities('127.0.0.1', 5000).includes(a);
const refused = (r: unknown, status: number) => {
  assert.ok(r instanceof OciError, `not refused: ${JSON.stringify(r)}`);
  assert.equal(r.status, status);
};

test('origin-form targets pass with their query split off', () => {
  assert.deepEqual(checkRequest(req('/v2/a/tags/list?n=1', ['Host', 'x']), own), {
    path: '/v2/a/tags/list',
    rawQuery: 'n=1',
  });
});

test('Host: exactly one in HTTP/1.1, at most one in HTTP/1.0', () => {
  refused(checkRequest(req('/v2/', []), own), 400);
  refused(checkRequest(req('/v2/', ['Host', 'a', 'host', 'b']), own), 400);
  assert.deepEqual(checkRequest(req('/v2/', [], { version: [1, 0] }), own), { path: '/v2/', rawQuery: '' });
  refused(checkRequest(req('/v2/', ['Host', 'a', 'Host', 'a'], { version: [1, 0] }), own), 400);
});

test('no version (HTTP/0.9) and CONNECT are refused', () => {
  refused(checkRequest(req('/v2/', [], { version: [0, 9] }), own), 400);
  refused(checkRequest(req('127.0.0.1:22', ['Host', '127.0.0.1:22'], { method: 'CONNECT' }), own), 405);
});

test('only chunked alone is an accepted transfer coding', () => {
  assert.ok(!(checkRequest(req('/v2/', ['Host', 'a', 'Transfer-Encoding', 'chunked']), own) instanceof OciError));
  assert.ok(!(checkRequest(req('/v2/', ['Host', 'a', 'Transfer-Encoding', 'Chunked']), own) instanceof OciError));
  for (const te of [['gzip, chunked'], ['chunked', 'chunked'], ['identity'], ['gzip']]) {
    refused(checkRequest(req('/v2/', ['Host', 'a', ...te.flatMap((v) => ['Transfer-Encoding', v])]), own), 400);
  }
});

test('absolute-form: our authority is served as its path, raw (no normalisation); any other is refused', () => {
  const r = req('http://127.0.0.1:5000/v2/a/%2e%2e/b?x=1', ['Host', 'other']);
  assert.deepEqual(checkRequest(r, own), { path: '/v2/a/%2e%2e/b', rawQuery: 'x=1' });
  assert.equal(r.headers.host, '127.0.0.1:5000');
  assert.deepEqual(checkRequest(req('http://localhost:5000', ['Host', 'x']), own), { path: '/', rawQuery: '' });
  refused(checkRequest(req('http://127.0.0.1:5001/v2/', ['Host', '127.0.0.1:5001']), own), 400);
  refused(checkRequest(req('http://user:pw@127.0.0.1:5000/v2/', ['Host', 'x']), own), 400);
  refused(checkRequest(req('ftp://127.0.0.1:5000/v2/', ['Host', 'x']), own), 400);
  refused(checkRequest(req('v2/', ['Host', 'x']), own), 400);
});

test('authorities are compared with explicit ports', () => {
  assert.equal(withPort('Example.com', 443), 'example.com:443');
  assert.equal(withPort('[::1]', 80), '[::1]:80');
  assert.equal(withPort('[::1]:5000', 80), '[::1]:5000');
  assert.deepEqual(localAuthorities('::ffff:127.0.0.1', 80), ['127.0.0.1:80', 'localhost:80']);
});
