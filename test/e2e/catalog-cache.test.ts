/**
 * The kept repository list behind `/v2/_catalog` (src/registry/catalog.ts): what this process pushes is listed at
 * once; what another process adds or removes on the same directory (docker-registry, a second wharf, an operator's
 * `rm -r`) shows up after revalidation (`catalog.revalidate`, short here); pagination with `last`/`n` is exact at
 * every position; and access rules still filter the kept list.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basic, seed, writeUsers } from './access.js';
import { DOCKER_REGISTRY_BIN, DOCKER_REGISTRY_MISSING, startDistribution } from './distribution.js';
import { call, startSession, withQuery } from './api.js';
import {
  OCI_CONFIG,
  OCI_LAYER,
  OCI_MANIFEST,
  pushManifest,
  sha256,
  startWharf,
  testConfig,
  type Wharf,
} from './harness.js';

const REVALIDATE = `catalog:\n  revalidate: 200ms\n`;
const REPOS_DIR = 'docker/registry/v2/repositories';

async function catalog(
  url: string,
  query = '',
  headers: Record<string, string> = {},
): Promise<{ repositories: string[]; link: string | null }> {
  const r = await fetch(`${url}/v2/_catalog${query}`, { headers });
  assert.equal(r.status, 200, await r.clone().text());
  return { ...((await r.json()) as { repositories: string[] }), link: r.headers.get('link') };
}

/** Pushes a one-layer image by POST + PUT ?digest= (what both wharf and docker-registry take). */
async function pushImage(url: string, name: string, tag = 'v1'): Promise<void> {
  const blobs = [
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', name })),
    Buffer.from(`layer of ${name}`),
  ];
  for (const b of blobs) {
    const put = await call(url, withQuery(await startSession(url, name), 'digest', sha256(b)), {
      method: 'PUT',
      body: new Uint8Array(b),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(put.status, 201, put.text);
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256(blobs[0]), size: blobs[0].length },
    layers: [{ mediaType: OCI_LAYER, digest: sha256(blobs[1]), size: blobs[1].length }],
  };
  const r = await pushManifest(url, name, tag, manifest, OCI_MANIFEST);
  await r.arrayBuffer();
  assert.equal(r.status, 201);
}

/** Polls the catalog until `ok` holds for it (revalidation is asynchronous by design); returns the last list. */
async function eventually(url: string, ok: (repos: string[]) => boolean): Promise<string[]> {
  let repos: string[] = [];
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    repos = (await catalog(url, '?n=1000')).repositories;
    if (ok(repos)) return repos;
  }
  return repos;
}

describe('catalog: the kept repository list', () => {
  let w: Wharf;
  const initial = ['a/b', 'a/b/c', 'a-b', 'lib/x', 'lib/y', 'm', 'z/last'];

  before(async () => {
    w = await startWharf({ config: testConfig({ extra: REVALIDATE }) });
    for (const name of initial) await pushImage(w.url, name);
  });
  after(async () => w?.cleanup());

  it('lists a repository pushed through this process at once, with no revalidation in between', async () => {
    assert.deepEqual((await catalog(w.url)).repositories, [...initial].sort());
    await pushImage(w.url, 'fresh/one');
    assert.ok((await catalog(w.url, '?n=1000')).repositories.includes('fresh/one'));
    // A push into a repository that exists adds nothing.
    await pushImage(w.url, 'fresh/one', 'v2');
    assert.equal((await catalog(w.url, '?n=1000')).repositories.filter((r) => r === 'fresh/one').length, 1);
  });

  it('pages exactly at every position: each n, each last (listed, between names, before the first, after the last)', async () => {
    const all = (await catalog(w.url, '?n=1000')).repositories;
    assert.deepEqual(all, [...all].sort());
    const lasts = [undefined, ...all, 'a/a', 'lib/xx', 'l', '0', '~~'];
    for (let n = 1; n <= all.length + 1; n++) {
      for (const last of lasts) {
        const rest = last === undefined ? all : all.filter((r) => r > last);
        const want = rest.slice(0, n);
        const query = `?n=${n}${last === undefined ? '' : `&last=${encodeURIComponent(last)}`}`;
        const got = await catalog(w.url, query);
        assert.deepEqual(got.repositories, want, query);
        if (rest.length > n)
          assert.equal(
            got.link,
            `</v2/_catalog?last=${encodeURIComponent(want[want.length - 1])}&n=${n}>; rel="next"`,
            query,
          );
        else assert.equal(got.link, null, query);
      }
    }
  });

  it('sees repositories added and removed on disk by another process after revalidation', async () => {
    // A new namespace two levels deep, and a new repository inside an existing namespace.
    mkdirSync(join(w.dataDir, REPOS_DIR, 'other/deep/repo/_manifests'), { recursive: true });
    mkdirSync(join(w.dataDir, REPOS_DIR, 'lib/z/_manifests'), { recursive: true });
    let repos = await eventually(w.url, (r) => r.includes('other/deep/repo') && r.includes('lib/z'));
    assert.ok(repos.includes('other/deep/repo') && repos.includes('lib/z'), repos.join(' '));
    // An existing directory that becomes a repository (it had only uploads): its own version changes.
    mkdirSync(join(w.dataDir, REPOS_DIR, 'lib/blobsonly/_layers'), { recursive: true });
    repos = await eventually(w.url, () => true);
    assert.ok(!repos.includes('lib/blobsonly'), 'a directory without _manifests is no repository');
    mkdirSync(join(w.dataDir, REPOS_DIR, 'lib/blobsonly/_manifests'));
    repos = await eventually(w.url, (r) => r.includes('lib/blobsonly'));
    assert.ok(repos.includes('lib/blobsonly'), repos.join(' '));
    // Removals: a whole namespace, one repository, and a repository's _manifests only.
    rmSync(join(w.dataDir, REPOS_DIR, 'other'), { recursive: true });
    rmSync(join(w.dataDir, REPOS_DIR, 'lib/x'), { recursive: true });
    rmSync(join(w.dataDir, REPOS_DIR, 'lib/blobsonly/_manifests'), { recursive: true });
    const gone = ['other/deep/repo', 'lib/x', 'lib/blobsonly'];
    repos = await eventually(w.url, (r) => gone.every((g) => !r.includes(g)));
    assert.deepEqual(
      repos.filter((r) => gone.includes(r)),
      [],
    );
    assert.ok(repos.includes('lib/y') && repos.includes('lib/z'), 'the neighbours stay');
  });

  it('sees what a second wharf on the same directory pushes', async () => {
    const other = await startWharf({ config: testConfig({ extra: REVALIDATE }).replaceAll('{{data}}', w.dataDir) });
    try {
      await catalog(w.url); // the list is kept before the other process writes
      await pushImage(other.url, 'replica/pushed');
      const repos = await eventually(w.url, (r) => r.includes('replica/pushed'));
      assert.ok(repos.includes('replica/pushed'), repos.join(' '));
    } finally {
      await other.cleanup();
    }
  });

  it(
    'sees what docker-registry pushes into the same directory',
    { skip: DOCKER_REGISTRY_BIN ? false : DOCKER_REGISTRY_MISSING },
    async () => {
      const d = await startDistribution(w.dataDir);
      try {
        await catalog(w.url);
        await pushImage(d.url, 'distribution/pushed');
        const repos = await eventually(w.url, (r) => r.includes('distribution/pushed'));
        assert.ok(repos.includes('distribution/pushed'), repos.join(' '));
      } finally {
        await d.stop();
      }
    },
  );
});

describe('catalog: access rules filter the kept list', () => {
  let w: Wharf;
  let dir: string;
  const users = { alice: 'alice-Pa55-cat', bob: 'bob-Pa55-cat' };
  const as = (u: keyof typeof users) => basic(u, users[u]);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-catalog-'));
    writeUsers(join(dir, 'users'), users);
    const extra = `auth:\n  htpasswd:\n    realm: catalog\n    path: {{dir}}/users\naccess:\n  rules:\n    - { accounts: ["*"], repositories: ["\${account}/**", "shared/**"], actions: [pull, push], catalog: true }\n`;
    w = await startWharf({ dir, config: testConfig({ extra }) });
    for (const repo of ['alice/a', 'bob/a', 'shared/x'])
      await seed(w.url, repo, 'v1', repo, async (name) => as(name.startsWith('bob') ? 'bob' : 'alice'));
  });
  after(async () => w?.cleanup());

  it('lists to each user only what they may pull, also a repository pushed after the list was kept, across pages', async () => {
    assert.deepEqual((await catalog(w.url, '', as('alice'))).repositories, ['alice/a', 'shared/x']);
    await seed(w.url, 'alice/b', 'v1', 'alice/b', async () => as('alice'));
    await seed(w.url, 'bob/b', 'v1', 'bob/b', async () => as('bob'));
    assert.deepEqual((await catalog(w.url, '', as('alice'))).repositories, ['alice/a', 'alice/b', 'shared/x']);
    assert.deepEqual((await catalog(w.url, '', as('bob'))).repositories, ['bob/a', 'bob/b', 'shared/x']);
    const pages: string[][] = [];
    let query = '?n=1';
    for (let i = 0; i < 10 && query; i++) {
      const page = await catalog(w.url, query, as('bob'));
      pages.push(page.repositories);
      query = page.link ? /<\/v2\/_catalog([^>]*)>/.exec(page.link)![1] : '';
    }
    assert.deepEqual(pages, [['bob/a'], ['bob/b'], ['shared/x']]);
  });
});
