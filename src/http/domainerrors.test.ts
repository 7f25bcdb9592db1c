/**
 * The registry layer throws domain errors, never HTTP ones; the HTTP edge translates each into the OCI error of
 * the same code, with the table's status and message (or the error's own reason) and its detail.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ERROR_CODES, errorBody } from '../oci/errors.js';
import * as domain from '../registry/errors.js';
import { StorageFullError, StorageUnavailableError } from '../storage/driver.js';
import { domainErrors, fromDomain } from './domainerrors.js';

const D = 'sha256:' + 'a'.repeat(64);

const samples: domain.RegistryError[] = [
  new domain.BlobUnknown(D),
  new domain.ManifestUnknown({ Name: 'app', Revision: D }),
  new domain.ManifestUnknown({ Tag: 'v1' }),
  new domain.ManifestUnknown(),
  new domain.DigestInvalid(D),
  new domain.ManifestInvalid({ url: 'ftp://x' }, 'layer URL is not allowed by validation.manifests.urls'),
  new domain.ManifestBlobUnknown(D),
  new domain.UploadUnknown('u'),
  new domain.SizeInvalid('received 1 bytes, expected 2'),
  new domain.RangeInvalid({ uuid: 'u' }, 'another request is writing to this upload'),
  new domain.Unsupported(undefined, 'the registry is in read-only mode'),
  new domain.Unsupported(),
];

test('every domain error class is sampled, and each translates to its OCI code, status, detail and message', () => {
  const classes = Object.values(domain).filter(
    (c) => typeof c === 'function' && c.prototype instanceof domain.RegistryError,
  );
  for (const c of classes)
    assert.ok(
      samples.some((s) => s instanceof (c as typeof domain.BlobUnknown)),
      `${(c as { name: string }).name} has a sample`,
    );
  for (const err of samples) {
    const oci = fromDomain(err);
    assert.equal(oci.code, err.code);
    assert.equal(oci.status, ERROR_CODES[err.code].status, err.name);
    assert.equal(oci.message, err.reason ?? ERROR_CODES[err.code].message, err.name);
    assert.deepEqual(JSON.parse(errorBody([oci])).errors[0].detail, err.detail, err.name);
  }
  assert.equal(
    errorBody([fromDomain(new domain.ManifestUnknown())]),
    '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}\n',
    'no detail: omitted, as Distribution',
  );
});

test('a verification error answers every error it carries; anything else is not a domain error', () => {
  const v = new domain.ManifestVerificationError([
    new domain.ManifestBlobUnknown(D),
    new domain.ManifestBlobUnknown('sha256:' + 'b'.repeat(64)),
  ]);
  assert.deepEqual(
    domainErrors(v)?.map((e) => [e.code, e.status]),
    [
      ['MANIFEST_BLOB_UNKNOWN', 400],
      ['MANIFEST_BLOB_UNKNOWN', 400],
    ],
  );
  assert.equal(domainErrors(new Error('x')), null);
  assert.equal(domainErrors(new StorageUnavailableError('s3', new Error('down'))), null);
});

test('no file of src/registry builds an OCI (HTTP) error', () => {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const dir = [join(here, '..', '..', '..', 'src', 'registry'), join(here, '..', 'registry')].find((d) =>
    existsSync(join(d, 'errors.ts')),
  );
  assert.ok(dir, 'src/registry with its .ts files');
  const files = (function walk(d: string): string[] {
    return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? walk(join(d, e.name))
        : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')
          ? [join(d, e.name)]
          : [],
    );
  })(dir);
  assert.ok(files.length > 10);
  for (const f of files) assert.doesNotMatch(readFileSync(f, 'utf8'), /\bociError\(|new OciError\b/, f);
});

test('storage errors keep the backend failure as their ES2022 cause', () => {
  const reason = new Error('ECONNREFUSED');
  assert.equal(new StorageUnavailableError('s3', reason).cause, reason);
  assert.equal(new StorageFullError('filesystem', reason, 'full').cause, reason);
});
