/**
 * The error table checks itself: every code has an HTTP status and a message; the codes and statuses are
 * exactly those of the distribution-spec and Distribution (the list below is copied from the Errors section of
 * the compatibility notes, so CI needs no file outside the repository); the messages are Distribution's
 * (registry/api/errcode/register.go); and every code is raised somewhere in src/ or listed as intentionally
 * unused with the reason. Also the serializer: detail omitted or kept, the trailing newline, nothing leaked.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ERROR_CODES, errorBody, ociError, OciError, toOciError, type ErrorCode } from './errors.js';

/** The compatibility notes' Errors section: "Only these codes; never invent one." */
const COMPAT_CODES: Record<number, string[]> = {
  400: [
    'DIGEST_INVALID',
    'SIZE_INVALID',
    'NAME_INVALID',
    'TAG_INVALID',
    'MANIFEST_INVALID',
    'MANIFEST_UNVERIFIED',
    'MANIFEST_BLOB_UNKNOWN',
    'PAGINATION_NUMBER_INVALID',
  ],
  401: ['UNAUTHORIZED'],
  403: ['DENIED'],
  404: ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_INVALID'],
  405: ['UNSUPPORTED'],
  416: ['RANGE_INVALID'],
  429: ['TOOMANYREQUESTS'],
  500: ['UNKNOWN'],
  503: ['UNAVAILABLE'],
};

/** Distribution's ErrorDescriptor messages, as it writes them in every error body. */
const DISTRIBUTION_MESSAGES: Record<string, string> = {
  UNKNOWN: 'unknown error',
  UNSUPPORTED: 'The operation is unsupported.',
  UNAUTHORIZED: 'authentication required',
  DENIED: 'requested access to the resource is denied',
  UNAVAILABLE: 'service unavailable',
  TOOMANYREQUESTS: 'too many requests',
  DIGEST_INVALID: 'provided digest did not match uploaded content',
  SIZE_INVALID: 'provided length did not match content length',
  RANGE_INVALID: 'invalid content range',
  NAME_INVALID: 'invalid repository name',
  TAG_INVALID: 'manifest tag did not match URI',
  NAME_UNKNOWN: 'repository name not known to registry',
  MANIFEST_UNKNOWN: 'manifest unknown',
  MANIFEST_INVALID: 'manifest invalid',
  MANIFEST_UNVERIFIED: 'manifest failed signature verification',
  MANIFEST_BLOB_UNKNOWN: 'blob unknown to registry',
  BLOB_UNKNOWN: 'blob unknown to registry',
  BLOB_UPLOAD_UNKNOWN: 'blob upload unknown to registry',
  BLOB_UPLOAD_INVALID: 'blob upload invalid',
  PAGINATION_NUMBER_INVALID: 'invalid number of results requested',
};

/** Codes in the table that no code path raises, and why they stay in the table. */
const INTENTIONALLY_UNUSED: Partial<Record<ErrorCode, string>> = {
  MANIFEST_UNVERIFIED:
    'only signed schema 1 manifests carry signatures to verify, and schema 1 is refused (MANIFEST_INVALID)',
};

const codes = Object.keys(ERROR_CODES) as ErrorCode[];

test('every code has an HTTP error status and a message', () => {
  for (const code of codes) {
    const { status, message } = ERROR_CODES[code];
    assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: status ${status}`);
    assert.ok(typeof message === 'string' && message.trim() !== '', `${code}: message`);
    assert.match(code, /^[A-Z_]+$/);
  }
});

test('the codes and their statuses are exactly the compatibility list', () => {
  const expected = Object.entries(COMPAT_CODES).flatMap(([status, list]) =>
    list.map((code) => [code, Number(status)] as const),
  );
  assert.deepEqual(Object.fromEntries(codes.map((c) => [c, ERROR_CODES[c].status])), Object.fromEntries(expected));
  assert.equal(codes.length, expected.length, 'no code twice in the list');
});

test("the messages are Distribution's, byte for byte", () => {
  assert.deepEqual(Object.fromEntries(codes.map((c) => [c, ERROR_CODES[c].message])), DISTRIBUTION_MESSAGES);
});

/** The repository's src/ (this file runs from dist/src/oci/). */
function sourceDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [join(here, '..', '..', '..', 'src'), join(here, '..')];
  const found = candidates.find((c) => existsSync(join(c, 'oci', 'errors.ts')));
  assert.ok(found, `src/ with its .ts files not found from ${here}`);
  return found;
}

function sources(dir: string): Array<{ path: string; text: string }> {
  const out: Array<{ path: string; text: string }> = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
      out.push({ path: p, text: readFileSync(p, 'utf8') });
  }
  return out;
}

test('every code is raised somewhere in src/, or listed as intentionally unused with its reason', () => {
  const files = sources(sourceDir());
  assert.ok(files.length > 20, 'the source tree was read');
  // The table's own declaration does not count as a use.
  const texts = files.map((f) =>
    f.path.endsWith(join('oci', 'errors.ts'))
      ? f.text.replace(/export const ERROR_CODES = \{[\s\S]*?\n\}/, '')
      : f.text,
  );
  const used = (code: string) => texts.some((t) => t.includes(`'${code}'`));
  const unused = codes.filter((c) => !used(c));
  assert.deepEqual(
    unused.sort(),
    Object.keys(INTENTIONALLY_UNUSED).sort(),
    'unused codes must be listed with a reason, and listed ones must really be unused',
  );
  for (const [code, reason] of Object.entries(INTENTIONALLY_UNUSED))
    assert.ok(reason && reason.length > 20, `${code}: a real reason`);
});

test("the serializer: detail omitted when none, null kept, the first error's status, a trailing newline", () => {
  assert.equal(
    errorBody([ociError('UNSUPPORTED')]),
    '{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}\n',
  );
  assert.equal(
    errorBody([new OciError('UNAUTHORIZED', null)]),
    '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n',
  );
  assert.equal(
    errorBody([ociError('BLOB_UNKNOWN', 'sha256:x'), ociError('NAME_INVALID', { name: 'A' }, 'custom')]),
    '{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:x"},{"code":"NAME_INVALID","message":"custom","detail":{"name":"A"}}]}\n',
  );
  const e = new OciError('TOOMANYREQUESTS', undefined, { headers: { 'Retry-After': '5' } });
  assert.equal(e.status, 429);
  assert.deepEqual(e.headers, { 'Retry-After': '5' });
  assert.ok(e instanceof Error);
});

test('anything else thrown becomes UNKNOWN without its message', () => {
  const mapped = toOciError(new Error('/var/lib/registry/secret: EACCES'));
  assert.equal(mapped.code, 'UNKNOWN');
  assert.equal(errorBody([mapped]), '{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}\n');
  const own = ociError('DENIED');
  assert.equal(toOciError(own), own);
  assert.equal(toOciError('a string').code, 'UNKNOWN');
});
