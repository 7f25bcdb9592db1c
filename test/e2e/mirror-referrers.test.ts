/**
 * The referrers API on a mirror: in front of a wharf (which serves the API, through a counting proxy that can play
 * an outage) the list is the upstream's, filtered by artifactType, and the cached referrers when the upstream is
 * down; in front of Debian's docker-registry 2.8 (no referrers API) the answer is 404, as the OCI spec has it, so
 * clients fall back to the tag schema, which the mirror serves from the upstream.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call } from './api.js';
import { DOCKER_REGISTRY_BIN, DOCKER_REGISTRY_MISSING, startDistribution, type Distribution } from './distribution.js';
import { startWharf, type Wharf } from './harness.js';
import { countingProxy, getManifest, pushImage, sha256, startMirror, type CountingProxy } from './mirror-helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const EMPTY = '{}';
const SBOM = 'application/vnd.example.sbom';
const SIG = 'application/vnd.example.signature';

/** Pushes an artifact manifest whose subject is `subject` (config: the empty blob, pushed once by the caller). */
async function pushReferrer(
  url: string,
  repo: string,
  tag: string,
  subject: { digest: string; size: number },
  artifactType: string,
): Promise<string> {
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(EMPTY), size: 2 },
    layers: [],
    subject: { mediaType: OCI_MANIFEST, ...subject },
  });
  const r = await fetch(`${url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body,
    headers: { 'Content-Type': OCI_MANIFEST },
  });
  await r.arrayBuffer();
  if (r.status !== 201) throw new Error(`referrer push failed: ${r.status}`);
  return sha256(body);
}

async function referrers(
  url: string,
  path: string,
): Promise<{ status: number; filtered: string | null; digests: string[]; text: string }> {
  const r = await call(url, path);
  const digests =
    r.status === 200
      ? (JSON.parse(r.text) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest).sort()
      : [];
  if (r.status === 200) assert.equal(r.headers.get('content-type'), OCI_INDEX);
  return { status: r.status, filtered: r.headers.get('oci-filters-applied'), digests, text: r.text };
}

describe('pull-through cache: referrers of an upstream that serves the API', () => {
  let up: Wharf;
  let counter: CountingProxy;
  let mirror: Wharf;
  let subject: { digest: string; size: number };
  let sbom: string;
  let sig: string;

  before(async () => {
    up = await startWharf();
    const img = await pushImage(up.url, 'team/app', 'v1', Buffer.from('the subject layer'), 'subject');
    const m = await getManifest(up.url, 'team/app', 'v1');
    subject = { digest: img.manifest, size: m.body.length };
    const r = await fetch(`${up.url}/v2/team/app/blobs/uploads/?digest=${sha256(EMPTY)}`, {
      method: 'POST',
      body: EMPTY,
    });
    await r.arrayBuffer();
    sbom = await pushReferrer(up.url, 'team/app', 'sbom', subject, SBOM);
    sig = await pushReferrer(up.url, 'team/app', 'sig', subject, SIG);
    counter = await countingProxy(up.url);
    mirror = await startMirror(`proxy:\n  remoteurl: ${counter.url}\n  timeout: 5s\n`);
  });

  after(async () => {
    await mirror?.cleanup();
    await counter?.close();
    await up?.cleanup();
  });

  test("the upstream's list, before anything is cached; artifactType filters it", async () => {
    const all = await referrers(mirror.url, `/v2/team/app/referrers/${subject.digest}`);
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(all.digests, [sbom, sig].sort());
    assert.equal(all.filtered, null);
    const only = await referrers(
      mirror.url,
      `/v2/team/app/referrers/${subject.digest}?artifactType=${encodeURIComponent(SIG)}`,
    );
    assert.deepEqual(only.digests, [sig]);
    assert.equal(only.filtered, 'artifactType');
    // Nothing was stored for the list: the catalog is still empty.
    assert.deepEqual(JSON.parse((await call(mirror.url, '/v2/_catalog')).text).repositories, []);
  });

  test('upstream down: the cached referrers are served (those pulled through the mirror), with a warning', async () => {
    assert.equal((await getManifest(mirror.url, 'team/app', sig)).status, 200);
    counter.mode = 'down';
    try {
      const cached = await referrers(mirror.url, `/v2/team/app/referrers/${subject.digest}`);
      assert.equal(cached.status, 200, cached.text);
      assert.deepEqual(cached.digests, [sig]);
      assert.match(
        mirror.output(),
        /could not list the referrers of team\/app@sha256:[0-9a-f]+; serving the 1 cached ones/,
      );
    } finally {
      counter.mode = 'up';
    }
  });
});

describe(
  'pull-through cache: referrers of docker-registry 2.8 (no referrers API)',
  { skip: DOCKER_REGISTRY_BIN ? false : DOCKER_REGISTRY_MISSING },
  () => {
    let work: string;
    let up: Distribution;
    let mirror: Wharf;

    before(async () => {
      work = mkdtempSync(join(tmpdir(), 'wharf-mirror-referrers-'));
      up = await startDistribution(join(work, 'upstream'));
      mirror = await startMirror(`proxy:\n  remoteurl: ${up.url}\n`);
    });

    after(async () => {
      await mirror?.cleanup();
      await up?.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    test('404, as a registry without the API answers: clients then use the tag schema, served from the upstream', async () => {
      const digest = sha256('some subject');
      const r = await referrers(mirror.url, `/v2/team/app/referrers/${digest}`);
      assert.equal(r.status, 404, r.text);
      assert.ok((JSON.parse(r.text) as { errors: unknown[] }).errors.length > 0);
      // The fallback tag (sha256-<hex>) is an ordinary tag: a tag the upstream lacks is MANIFEST_UNKNOWN.
      const tag = digest.replace(':', '-');
      assert.equal((await getManifest(mirror.url, 'team/app', tag)).status, 404);
    });
  },
);
