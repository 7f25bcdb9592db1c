/**
 * Content discovery: tags list and catalog (sorted, `n`/`last` pagination, Link header, limits), and the OCI 1.1
 * referrers API with its artifactType filter. Covers the distribution-spec conformance "content discovery"
 * workflow, referrers included.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DEFAULT_TEST_CONFIG,
  makeImage,
  OCI_INDEX,
  OCI_MANIFEST,
  pushBlob,
  pushManifest,
  sha256,
  startWharf,
  type Wharf,
} from './harness.js';
import { assertError, call, EMPTY_DIGEST, OCI_EMPTY } from './api.js';

const MAX_ENTRIES = 5;
let w: Wharf;
before(async () => {
  w = await startWharf({ config: `${DEFAULT_TEST_CONFIG}catalog:\n  maxentries: ${MAX_ENTRIES}\n` });
});
after(async () => {
  await w?.cleanup();
});

async function put(
  name: string,
  ref: string,
  manifest: unknown,
  type = OCI_MANIFEST,
): Promise<{ digest: string; size: number; headers: Headers }> {
  const body = JSON.stringify(manifest);
  const r = await pushManifest(w.url, name, ref, body, type);
  const text = await r.text();
  assert.equal(r.status, 201, text);
  return { digest: sha256(body), size: Buffer.byteLength(body), headers: r.headers };
}

describe('tags list', () => {
  const REPO = 'disc/tags';
  const TAGS = ['b', 'a', 'e', 'c', 'd'];
  before(async () => {
    const img = await makeImage(w.url, REPO, 'tags');
    for (const t of TAGS) await put(REPO, t, img.manifest);
  });

  test('lists every tag, sorted, with the repository name', async () => {
    const r = await call(w.url, `/v2/${REPO}/tags/list`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(JSON.parse(r.text), { name: REPO, tags: [...TAGS].sort() });
    assert.equal(r.headers.get('link'), null);
  });

  test('n limits the page and Link points at the next one; following Links walks every tag once', async () => {
    const first = await call(w.url, `/v2/${REPO}/tags/list?n=2`);
    assert.deepEqual(JSON.parse(first.text).tags, ['a', 'b']);
    assert.equal(first.headers.get('link'), `</v2/${REPO}/tags/list?last=b&n=2>; rel="next"`);
    const seen: string[] = [];
    let next: string | null = `/v2/${REPO}/tags/list?n=2`;
    while (next) {
      const r = await call(w.url, next);
      assert.equal(r.status, 200);
      seen.push(...(JSON.parse(r.text).tags as string[]));
      const link = r.headers.get('link');
      next = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1] : null;
      assert.ok(seen.length <= TAGS.length, 'pagination does not end');
    }
    assert.deepEqual(seen, [...TAGS].sort());
  });

  test('last starts after the given tag', async () => {
    const r = await call(w.url, `/v2/${REPO}/tags/list?n=2&last=b`);
    assert.deepEqual(JSON.parse(r.text).tags, ['c', 'd']);
    const rest = await call(w.url, `/v2/${REPO}/tags/list?last=c`);
    assert.deepEqual(JSON.parse(rest.text).tags, ['d', 'e']);
    assert.equal(rest.headers.get('link'), null);
  });

  test('a negative or non-numeric n is PAGINATION_NUMBER_INVALID', async () => {
    for (const n of ['-1', 'abc', '1.5']) {
      const r = await call(w.url, `/v2/${REPO}/tags/list?n=${n}`);
      assertError(r, 400, 'PAGINATION_NUMBER_INVALID');
    }
    const abc = await call(w.url, `/v2/${REPO}/tags/list?n=abc`);
    assert.equal(
      abc.text,
      '{"errors":[{"code":"PAGINATION_NUMBER_INVALID","message":"invalid number of results requested","detail":{"n":"abc"}}]}\n',
    );
  });

  test('an unknown repository is NAME_UNKNOWN with Distribution body', async () => {
    const r = await call(w.url, '/v2/disc/nothing/tags/list');
    assert.equal(r.status, 404);
    assert.equal(
      r.text,
      '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"disc/nothing"}}]}\n',
    );
  });
});

describe('catalog', () => {
  const REPOS = ['cat/c', 'cat/a', 'cat/e', 'cat/b', 'cat/d', 'cat/f'];
  let all: string[];
  before(async () => {
    for (const name of REPOS) {
      const img = await makeImage(w.url, name, name);
      await put(name, 'v1', img.manifest);
    }
    await pushBlob(w.url, 'cat/blobs-only', 'no manifest here');
    // Every repository of this server with a manifest, whatever other describe blocks pushed.
    const pages: string[] = [];
    let last = '';
    for (;;) {
      const r = await call(w.url, `/v2/_catalog?n=${MAX_ENTRIES}${last ? `&last=${last}` : ''}`);
      const repos = JSON.parse(r.text).repositories as string[];
      pages.push(...repos);
      if (!r.headers.get('link')) break;
      last = repos[repos.length - 1];
    }
    all = pages;
  });

  test('lists repositories with manifests, in lexical order, not those with only blobs', async () => {
    for (const name of REPOS) assert.ok(all.includes(name), name);
    assert.ok(!all.includes('cat/blobs-only'));
    assert.deepEqual(all, [...all].sort());
    assert.equal(new Set(all).size, all.length);
  });

  test('n and last paginate with a Link header', async () => {
    const r = await call(w.url, '/v2/_catalog?n=2&last=cat/b');
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.text).repositories, ['cat/c', 'cat/d']);
    assert.equal(r.headers.get('link'), `</v2/_catalog?last=${encodeURIComponent('cat/d')}&n=2>; rel="next"`);
  });

  test('without n, a page holds at most catalog.maxentries and links to the next', async () => {
    const r = await call(w.url, '/v2/_catalog');
    const repos = JSON.parse(r.text).repositories as string[];
    assert.deepEqual(repos, all.slice(0, MAX_ENTRIES));
    assert.ok(all.length > MAX_ENTRIES);
    assert.match(r.headers.get('link') ?? '', /^<\/v2\/_catalog\?last=[^>]+&n=5>; rel="next"$/);
  });

  test('n above catalog.maxentries, negative or non-numeric is PAGINATION_NUMBER_INVALID', async () => {
    const over = await call(w.url, `/v2/_catalog?n=${MAX_ENTRIES + 1}`);
    assert.equal(over.status, 400);
    // Distribution reports the parsed number here, not the string.
    assert.equal(
      over.text,
      `{"errors":[{"code":"PAGINATION_NUMBER_INVALID","message":"invalid number of results requested","detail":{"n":${MAX_ENTRIES + 1}}}]}\n`,
    );
    for (const n of ['-1', 'abc'])
      assertError(await call(w.url, `/v2/_catalog?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
  });
});

describe('referrers', () => {
  const REPO = 'disc/refs';
  const TYPE_A = 'application/vnd.example.sbom';
  const TYPE_B = 'application/vnd.example.signature';
  let subject: { digest: string; size: number };
  const expected = new Map<string, { artifactType: string; annotation: string; mediaType: string }>();
  let orphan: string;
  let missingSubject: string;

  before(async () => {
    await pushBlob(w.url, REPO, '{}');
    const typeAConfig = await pushBlob(w.url, REPO, 'config whose media type is the artifact type');
    const blob = await pushBlob(w.url, REPO, 'referrer payload');
    const img = await makeImage(w.url, REPO, 'subject');
    // The subject's digest is known before it is pushed: referrers may arrive first.
    const subjectBody = JSON.stringify(img.manifest);
    subject = { digest: sha256(subjectBody), size: Buffer.byteLength(subjectBody) };
    const subj = { mediaType: OCI_MANIFEST, ...subject };
    const layers = [{ mediaType: 'application/octet-stream', digest: blob, size: 16 }];

    const a1 = await put(REPO, 'a1', {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: TYPE_A, digest: typeAConfig, size: 45 },
      layers,
      subject: subj,
      annotations: { 'test.key': 'a1' },
    });
    assert.equal(a1.headers.get('oci-subject'), subject.digest);
    expected.set(a1.digest, { artifactType: TYPE_A, annotation: 'a1', mediaType: OCI_MANIFEST });
    const b1 = await put(REPO, 'b1', {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: TYPE_B,
      config: { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2 },
      layers,
      subject: subj,
      annotations: { 'test.key': 'b1' },
    });
    expected.set(b1.digest, { artifactType: TYPE_B, annotation: 'b1', mediaType: OCI_MANIFEST });

    await put(REPO, 'subject', img.manifest);

    const b2 = await put(REPO, 'b2', {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: TYPE_B,
      config: { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2 },
      layers: [],
      subject: subj,
      annotations: { 'test.key': 'b2' },
    });
    expected.set(b2.digest, { artifactType: TYPE_B, annotation: 'b2', mediaType: OCI_MANIFEST });
    const idx = await put(
      REPO,
      'idx',
      {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        artifactType: TYPE_A,
        manifests: [{ mediaType: OCI_MANIFEST, digest: a1.digest, size: a1.size }],
        subject: subj,
        annotations: { 'test.key': 'idx' },
      },
      OCI_INDEX,
    );
    assert.equal(idx.headers.get('oci-subject'), subject.digest);
    expected.set(idx.digest, { artifactType: TYPE_A, annotation: 'idx', mediaType: OCI_INDEX });

    missingSubject = sha256('a subject never pushed');
    const o = await put(REPO, 'orphan', {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: TYPE_B,
      config: { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2 },
      layers: [],
      subject: { mediaType: OCI_MANIFEST, digest: missingSubject, size: 10 },
    });
    assert.equal(o.headers.get('oci-subject'), missingSubject);
    orphan = o.digest;
  });

  async function referrers(digest: string, query = '') {
    const r = await call(w.url, `/v2/${REPO}/referrers/${digest}${query}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('content-type'), OCI_INDEX);
    const body = JSON.parse(r.text) as {
      schemaVersion: number;
      mediaType: string;
      manifests: Array<Record<string, unknown>>;
    };
    assert.equal(body.schemaVersion, 2);
    assert.equal(body.mediaType, OCI_INDEX);
    return { r, manifests: body.manifests };
  }

  test('lists every manifest whose subject is the digest, with mediaType, size, artifactType and annotations', async () => {
    const { r, manifests } = await referrers(subject.digest);
    assert.equal(r.headers.get('oci-filters-applied'), null);
    assert.equal(manifests.length, expected.size);
    for (const d of manifests) {
      const want = expected.get(d.digest as string);
      assert.ok(want, `unexpected referrer ${String(d.digest)}`);
      assert.equal(d.mediaType, want.mediaType);
      assert.equal(d.artifactType, want.artifactType);
      assert.deepEqual(d.annotations, { 'test.key': want.annotation });
      const m = await call(w.url, `/v2/${REPO}/manifests/${String(d.digest)}`, {
        headers: { Accept: `${OCI_MANIFEST},${OCI_INDEX}` },
      });
      assert.equal(d.size, m.body.length);
    }
  });

  test('artifactType filters the list and OCI-Filters-Applied says so', async () => {
    for (const type of [TYPE_A, TYPE_B]) {
      const { r, manifests } = await referrers(subject.digest, `?artifactType=${encodeURIComponent(type)}`);
      assert.equal(r.headers.get('oci-filters-applied'), 'artifactType');
      const want = [...expected]
        .filter(([, v]) => v.artifactType === type)
        .map(([k]) => k)
        .sort();
      assert.deepEqual(manifests.map((d) => d.digest).sort(), want);
    }
  });

  test('a subject that was never pushed still lists its referrers', async () => {
    const { manifests } = await referrers(missingSubject);
    assert.deepEqual(
      manifests.map((d) => d.digest),
      [orphan],
    );
  });

  test('a digest without referrers is an empty index, also in an unknown repository', async () => {
    const { manifests } = await referrers(sha256('nothing refers to me'));
    assert.deepEqual(manifests, []);
    const r = await call(w.url, `/v2/disc/unknown-repo/referrers/${subject.digest}`);
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.text).manifests, []);
  });

  test('a deleted referrer leaves the list', async () => {
    const del = await call(w.url, `/v2/${REPO}/manifests/${orphan}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    const { manifests } = await referrers(missingSubject);
    assert.deepEqual(manifests, []);
  });

  test('a malformed digest is DIGEST_INVALID', async () => {
    assertError(await call(w.url, `/v2/${REPO}/referrers/sha256:nothex`), 400, 'DIGEST_INVALID');
  });
});
