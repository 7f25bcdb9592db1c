/**
 * Manifest parsing: each media type (from Content-Type, the body's mediaType, or the body's shape), the fields
 * each one requires, schema 1 refused, subject and artifactType (OCI only), the blobs a manifest references,
 * the artifact type the referrers API reports, and the 4 MiB limit Distribution applies.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_MANIFEST_BYTES } from '../registry/manifests.js';
import { OciError } from './errors.js';
import { artifactTypeOf, parseManifest, referencedBlobs } from './manifest.js';
import { MT } from './mediatypes.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const desc = (mediaType: string, c: string, extra: object = {}) => ({ mediaType, digest: d(c), size: 10, ...extra });
const image = (mediaType: string | undefined, extra: object = {}) => ({
  schemaVersion: 2,
  ...(mediaType ? { mediaType } : {}),
  config: desc('application/vnd.oci.image.config.v1+json', 'a'),
  layers: [desc('application/vnd.oci.image.layer.v1.tar+gzip', 'b')],
  ...extra,
});
const index = (mediaType: string | undefined, extra: object = {}) => ({
  schemaVersion: 2,
  ...(mediaType ? { mediaType } : {}),
  manifests: [desc(MT.ociManifest, 'c', { platform: { architecture: 'amd64', os: 'linux' } })],
  ...extra,
});

const parse = (body: unknown, ct?: string) =>
  parseManifest(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), ct);

/** Asserts MANIFEST_INVALID (400) whose detail matches `detail`. */
function assertInvalid(body: unknown, ct: string | undefined, detail: RegExp): void {
  assert.throws(
    () => parse(body, ct),
    (e: unknown) =>
      e instanceof OciError &&
      e.code === 'MANIFEST_INVALID' &&
      e.status === 400 &&
      detail.test(JSON.stringify(e.detail)),
    `${ct} ${JSON.stringify(body).slice(0, 80)} should be MANIFEST_INVALID ~ ${detail}`,
  );
}

test('each media type by Content-Type: image manifests and indexes', () => {
  const cases: Array<[unknown, string, 'image' | 'index']> = [
    [image(MT.dockerManifest), MT.dockerManifest, 'image'],
    [image(MT.ociManifest), MT.ociManifest, 'image'],
    [image(undefined), MT.ociManifest, 'image'],
    [index(MT.dockerList), MT.dockerList, 'index'],
    [index(MT.ociIndex), MT.ociIndex, 'index'],
    [index(undefined), MT.ociIndex, 'index'],
  ];
  for (const [body, ct, kind] of cases) {
    const m = parse(body, ct);
    assert.equal(m.kind, kind, ct);
    assert.equal(m.mediaType, ct);
  }
  assert.equal(
    parse(image(MT.ociManifest), `${MT.ociManifest.toUpperCase()}; charset=utf-8`).mediaType,
    MT.ociManifest,
    'parameters and case ignored',
  );
});

test("without Content-Type (or plain JSON): the body's mediaType, else its shape", () => {
  for (const ct of [undefined, '', 'application/json']) {
    assert.equal(parse(image(MT.dockerManifest), ct).mediaType, MT.dockerManifest);
    assert.equal(parse(index(MT.dockerList), ct).mediaType, MT.dockerList);
    assert.equal(parse(image(undefined), ct).mediaType, MT.ociManifest);
    assert.equal(parse(index(undefined), ct).mediaType, MT.ociIndex);
  }
});

test('a body mediaType disagreeing with Content-Type is refused; Docker types must state theirs', () => {
  assertInvalid(image(MT.dockerManifest), MT.ociManifest, /mediaType in manifest should be/);
  assertInvalid(index(MT.ociIndex), MT.dockerList, /should be/);
  assertInvalid(
    image(undefined),
    MT.dockerManifest,
    /mediaType in manifest should be 'application\/vnd.docker.distribution.manifest.v2\+json' not ''/,
  );
  assertInvalid(index(undefined), MT.dockerList, /mediaType in manifest list should be/);
});

test('an unknown media type, or a body that is not a JSON object, is refused', () => {
  assertInvalid(image(undefined), 'text/plain', /unsupported manifest media type: text\/plain/);
  assertInvalid(image('application/vnd.example+json'), undefined, /unsupported manifest media type/);
  assertInvalid('{not json', MT.ociManifest, /reason/);
  assertInvalid('[]', MT.ociManifest, /must be a JSON object/);
  assertInvalid('null', MT.ociManifest, /must be a JSON object/);
  assertInvalid('"text"', MT.ociManifest, /must be a JSON object/);
});

test('schema 1 is refused, however it is announced', () => {
  const v1 = { schemaVersion: 1, name: 'a', tag: 'b', architecture: 'amd64', fsLayers: [], history: [] };
  for (const ct of [MT.dockerSchema1, MT.dockerSchema1Signed, undefined, 'application/json'])
    assertInvalid(v1, ct, /schema 1 manifests are not supported/);
  assertInvalid({ ...image(undefined), mediaType: MT.dockerSchema1Signed }, undefined, /schema 1/);
  assertInvalid(image(MT.ociManifest), MT.dockerSchema1, /schema 1/);
});

test('required fields and their types: a path to the field in the detail', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ ...image(MT.ociManifest), schemaVersion: 3 }, /schemaVersion/],
    [{ ...image(MT.ociManifest), schemaVersion: undefined }, /schemaVersion/],
    [{ ...image(MT.ociManifest), config: undefined }, /config/],
    [{ ...image(MT.ociManifest), layers: undefined }, /layers/],
    [{ ...image(MT.ociManifest), layers: {} }, /layers/],
    [image(MT.ociManifest, { config: { ...desc('x', 'a'), digest: 'sha256:short' } }), /config.digest: invalid digest/],
    [image(MT.ociManifest, { config: { ...desc('x', 'a'), digest: `md5:${'a'.repeat(32)}` } }), /config.digest/],
    [image(MT.ociManifest, { config: { ...desc('x', 'a'), size: -1 } }), /config.size/],
    [image(MT.ociManifest, { config: { ...desc('x', 'a'), size: 1.5 } }), /config.size/],
    [image(MT.ociManifest, { config: { ...desc('x', 'a'), size: '10' } }), /config.size/],
    [image(MT.ociManifest, { layers: [{ ...desc('x', 'b'), mediaType: '' }] }), /layers.0.mediaType/],
    [image(MT.ociManifest, { layers: [{ digest: d('b'), size: 1 }] }), /layers.0.mediaType/],
    [image(MT.ociManifest, { annotations: { a: 1 } }), /annotations.a/],
    [{ ...index(MT.ociIndex), manifests: undefined }, /manifests/],
    [
      index(MT.ociIndex, { manifests: [desc(MT.ociManifest, 'c', { platform: { os: 'linux' } })] }),
      /manifests.0.platform.architecture/,
    ],
  ];
  for (const [body, detail] of cases) {
    // Indexes are sent as indexes, everything else as an image manifest.
    const ct =
      (body as Record<string, unknown>).config === undefined && 'manifests' in (body as object)
        ? MT.ociIndex
        : MT.ociManifest;
    assertInvalid(body, ct, detail);
  }
});

test('an image manifest must not have manifests; an index must not have config or layers', () => {
  assertInvalid(image(MT.ociManifest, { manifests: [] }), MT.ociManifest, /must not have a manifests member/);
  assertInvalid(index(MT.ociIndex, { layers: [] }), MT.ociIndex, /must not have config or layers/);
  assertInvalid(index(MT.ociIndex, { config: desc('x', 'a') }), MT.ociIndex, /must not have config or layers/);
});

test('subject and artifactType: kept in OCI manifests and indexes, refused in Docker schema 2', () => {
  const subject = desc(MT.ociManifest, 'f');
  const m = parse(image(MT.ociManifest, { subject, artifactType: 'application/vnd.example.sbom' }), MT.ociManifest);
  assert.deepEqual(m.body.subject, subject);
  assert.equal(m.body.artifactType, 'application/vnd.example.sbom');
  const i = parse(index(MT.ociIndex, { subject, artifactType: 'application/vnd.example.bundle' }), MT.ociIndex);
  assert.equal(i.body.subject?.digest, subject.digest);
  assertInvalid(image(MT.dockerManifest, { subject }), MT.dockerManifest, /only allowed in OCI manifests/);
  assertInvalid(image(MT.dockerManifest, { artifactType: 'x/y' }), MT.dockerManifest, /only allowed in OCI manifests/);
  assertInvalid(image(MT.ociManifest, { subject: { ...subject, digest: 'nope' } }), MT.ociManifest, /subject.digest/);
});

test('unknown members are kept (the stored bytes are served as pushed, the parsed body keeps them too)', () => {
  const m = parse(image(MT.ociManifest, { 'x-extension': { a: 1 }, annotations: { k: 'v' } }), MT.ociManifest);
  assert.deepEqual((m.body as Record<string, unknown>)['x-extension'], { a: 1 });
  assert.deepEqual(m.body.annotations, { k: 'v' });
});

test('referenced blobs: config and layers, without non-distributable layers; none for an index', () => {
  const foreign = desc('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'e', {
    urls: ['https://example.com/layer'],
  });
  const m = parse(
    image(MT.ociManifest, { layers: [desc('l', 'b'), foreign, desc('l', 'c', { urls: [] })] }),
    MT.ociManifest,
  );
  assert.deepEqual(
    referencedBlobs(m).map((x) => x.digest),
    [d('a'), d('b'), d('c')],
  );
  assert.deepEqual(referencedBlobs(parse(index(MT.ociIndex), MT.ociIndex)), []);
});

test("artifact type: the manifest's artifactType, else its config media type; an index only its own", () => {
  assert.equal(artifactTypeOf(parse(image(MT.ociManifest, { artifactType: 'a/b' }), MT.ociManifest)), 'a/b');
  assert.equal(
    artifactTypeOf(parse(image(MT.ociManifest), MT.ociManifest)),
    'application/vnd.oci.image.config.v1+json',
  );
  assert.equal(artifactTypeOf(parse(index(MT.ociIndex), MT.ociIndex)), undefined);
  assert.equal(artifactTypeOf(parse(index(MT.ociIndex, { artifactType: 'c/d' }), MT.ociIndex)), 'c/d');
});

test("the size limit is Distribution's maxManifestBodySize: 4 MiB", () => {
  assert.equal(MAX_MANIFEST_BYTES, 4 * 1024 * 1024);
  // Parsing itself has no limit below it: a manifest of many layers just under 4 MiB parses.
  const layers = Array.from({ length: 20_000 }, () => desc('application/vnd.oci.image.layer.v1.tar+gzip', 'b'));
  const body = Buffer.from(JSON.stringify(image(MT.ociManifest, { layers })));
  assert.ok(body.length < MAX_MANIFEST_BYTES && body.length > 2 * 1024 * 1024, String(body.length));
  assert.equal(parseManifest(body, MT.ociManifest).kind, 'image');
});
