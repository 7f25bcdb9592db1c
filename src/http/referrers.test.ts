/**
 * The referrers API in process: an OCI index of the manifests whose `subject` is the digest, with artifactType
 * (the manifest's, else its config's media type) and annotations, the `artifactType` filter with
 * OCI-Filters-Applied, and OCI-Subject on the PUT of a manifest with a subject.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  MT,
  oneError,
  pushBlob,
  pushImage,
  sha256,
  startTestRegistry,
  type Pushed,
  type TestRegistry,
} from './fixture.test.js';

const SBOM = 'application/vnd.example.sbom.v1';
const SIG = 'application/vnd.example.signature.v1';

describe('referrers', () => {
  let reg: TestRegistry;
  let subject: Pushed;
  let sbom: Pushed;
  let sig: Pushed;
  let emptyConfig: { mediaType: string; digest: string; size: number };

  before(async () => {
    reg = await startTestRegistry();
    subject = await pushImage(reg, 'ref/r', 'app', MT.ociManifest);
    const desc = { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length };
    emptyConfig = { mediaType: MT.ociEmpty, digest: await pushBlob(reg, 'ref/r', '{}'), size: 2 };
    sbom = await pushImage(reg, 'ref/r', 'sbom', MT.ociManifest, {
      artifactType: SBOM,
      config: emptyConfig,
      subject: desc,
      annotations: { 'org.example.kind': 'sbom' },
    });
    // No artifactType: the config's media type is reported.
    sig = await pushImage(reg, 'ref/r', 'sig', MT.ociManifest, {
      config: { ...emptyConfig, mediaType: SIG },
      subject: desc,
    });
  });
  after(() => reg.close());

  test('PUT of a manifest with a subject answers OCI-Subject', async () => {
    const m = JSON.parse(sbom.bytes.toString()) as Record<string, unknown>;
    m.annotations = { again: 'yes' };
    const r = await reg.req('PUT', '/v2/ref/r/manifests/sbom2', {
      body: JSON.stringify(m),
      headers: { 'Content-Type': MT.ociManifest },
    });
    assert.equal(r.status, 201);
    assert.equal(r.headers['oci-subject'], subject.digest);
    const plain = await reg.req('PUT', '/v2/ref/r/manifests/app', {
      body: subject.bytes,
      headers: { 'Content-Type': MT.ociManifest },
    });
    assert.equal(plain.headers['oci-subject'], undefined);
    await reg.req('DELETE', `/v2/ref/r/manifests/${r.headers['docker-content-digest']}`);
  });

  test('GET lists every referrer as an OCI index, sorted by digest', async () => {
    const r = await reg.req('GET', `/v2/ref/r/referrers/${subject.digest}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], MT.ociIndex);
    assert.equal(r.headers['oci-filters-applied'], undefined);
    const expected = [
      {
        mediaType: MT.ociManifest,
        digest: sbom.digest,
        size: sbom.bytes.length,
        artifactType: SBOM,
        annotations: { 'org.example.kind': 'sbom' },
      },
      { mediaType: MT.ociManifest, digest: sig.digest, size: sig.bytes.length, artifactType: SIG },
    ].sort((a, b) => (a.digest < b.digest ? -1 : 1));
    assert.deepEqual(r.json(), { schemaVersion: 2, mediaType: MT.ociIndex, manifests: expected });
  });

  test('?artifactType= filters and says so in OCI-Filters-Applied', async () => {
    const r = await reg.req('GET', `/v2/ref/r/referrers/${subject.digest}?artifactType=${encodeURIComponent(SIG)}`);
    assert.equal(r.headers['oci-filters-applied'], 'artifactType');
    assert.deepEqual(
      r.json().manifests.map((m: { digest: string }) => m.digest),
      [sig.digest],
    );
    const none = await reg.req('GET', `/v2/ref/r/referrers/${subject.digest}?artifactType=application/none`);
    assert.deepEqual(none.json().manifests, []);
  });

  test('a subject without referrers (even unknown) is an empty index; a bad digest 400 DIGEST_INVALID', async () => {
    const r = await reg.req('GET', `/v2/ref/r/referrers/${sha256('nothing refers to me')}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] });
    const other = await reg.req('GET', `/v2/ref/other/referrers/${subject.digest}`);
    assert.deepEqual(other.json().manifests, [], 'referrers are per repository');
    const bad = await reg.req('GET', '/v2/ref/r/referrers/sha256:nothex');
    assert.equal(bad.status, 400);
    assert.equal(oneError(bad).code, 'DIGEST_INVALID');
  });

  test('a deleted referrer disappears from the list', async () => {
    const extra = await pushImage(reg, 'ref/r', 'tmp', MT.ociManifest, {
      artifactType: 'application/tmp',
      config: emptyConfig,
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length },
    });
    const listed = async () =>
      (await reg.req('GET', `/v2/ref/r/referrers/${subject.digest}`))
        .json()
        .manifests.map((m: { digest: string }) => m.digest);
    assert.ok((await listed()).includes(extra.digest));
    assert.equal((await reg.req('DELETE', `/v2/ref/r/manifests/${extra.digest}`)).status, 202);
    assert.ok(!(await listed()).includes(extra.digest));
  });
});
