/**
 * wharf's data directory is Distribution's, both ways, and it stays sound across crashes:
 * - images pushed (with skopeo) to `docker-registry` are served by wharf from the same root directory, and the
 *   other way round, byte for byte, with the same tags lists and catalog;
 * - wharf writes exactly the files Distribution writes for the same pushes, link files without newlines, and no
 *   temporary files;
 * - an upload session survives a SIGKILL and a restart with the same `http.secret` (the hash is rebuilt from the
 *   data file), and moves between docker-registry and wharf in both directions;
 * - what docker-registry deleted (a manifest, a blob link) wharf sees as deleted, and the other way round;
 * - a SIGKILL in the middle of a large streamed upload leaves no blob and no partial file in the blob store;
 * - concurrent monolithic uploads of one blob to several repositories all succeed and leave it intact.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DOCKER_REGISTRY_BIN, DOCKER_REGISTRY_MISSING, startDistribution, type Distribution } from './distribution.js';
import { DEFAULT_TEST_CONFIG, sha256, startWharf, type Wharf } from './harness.js';
import { LayoutReader, MT, OciLayout, type Blob, type BuiltImage, type BuiltIndex } from './ocilayout.js';
import { copy, SKOPEO, SKOPEO_MISSING, skopeoOk } from './skopeo.js';

const V2 = join('docker', 'registry', 'v2');
const NO_DISTRIBUTION = DOCKER_REGISTRY_BIN ? false : DOCKER_REGISTRY_MISSING;
const NO_SKOPEO = SKOPEO ? false : SKOPEO_MISSING;

/** Every process and directory the tests start or create, released in after() whatever happened. */
const wharfs: Wharf[] = [];
const distributions: Distribution[] = [];
const dirs: string[] = [];

after(async () => {
  for (const d of distributions) await d.stop('SIGKILL').catch(() => undefined);
  for (const w of wharfs) await w.cleanup().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(what: string): string {
  const d = mkdtempSync(join(tmpdir(), `wharf-e2e-${what}-`));
  dirs.push(d);
  return d;
}

async function wharf(opts: Parameters<typeof startWharf>[0] = {}): Promise<Wharf> {
  const w = await startWharf(opts);
  wharfs.push(w);
  return w;
}

/** wharf serving an existing storage root (e.g. one Distribution wrote). */
function wharfOnRoot(root: string): Promise<Wharf> {
  return wharf({ config: DEFAULT_TEST_CONFIG.replaceAll('{{data}}', root) });
}

async function distribution(root: string): Promise<Distribution> {
  const d = await startDistribution(root);
  distributions.push(d);
  return d;
}

/** Relative paths (with `/`) of every file under `root`. */
function files(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  for (const e of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (e.isFile() || e.isSymbolicLink())
      out.push(
        relative(root, join(e.parentPath ?? e.path, e.name))
          .split(sep)
          .join('/'),
      );
    else if (!e.isDirectory()) out.push(`${relative(root, join(e.parentPath ?? e.path, e.name))} (special file)`);
  }
  return out.sort();
}

const HEX = '[0-9a-f]{64}';
const NAME = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*';
const TAG = '[A-Za-z0-9_][A-Za-z0-9._-]{0,127}';
/** The only files a committed Distribution root holds (no upload in flight). */
const LAYOUT_FILES = [
  new RegExp(`^blobs/sha256/([0-9a-f]{2})/(${HEX})/data$`),
  new RegExp(`^repositories/${NAME}/_layers/sha256/(${HEX})/link$`),
  new RegExp(`^repositories/${NAME}/_manifests/revisions/sha256/(${HEX})/link$`),
  new RegExp(`^repositories/${NAME}/_manifests/tags/${TAG}/current/link$`),
  new RegExp(`^repositories/${NAME}/_manifests/tags/${TAG}/index/sha256/(${HEX})/link$`),
];

/**
 * Everything wrong with a storage root: files outside Distribution's layout (temporary files, leftovers of
 * uploads), blob data that does not hash to its path, link files that are not exactly `sha256:<hex>`.
 */
function layoutProblems(root: string): string[] {
  const v2 = join(root, V2);
  const problems: string[] = [];
  for (const f of files(v2)) {
    const m = LAYOUT_FILES.map((re) => re.exec(f)).find((x) => x !== null);
    if (!m) {
      problems.push(`unexpected file ${f}`);
      continue;
    }
    const content = readFileSync(join(v2, f));
    if (f.startsWith('blobs/')) {
      if (m[1] !== m[2].slice(0, 2)) problems.push(`${f}: wrong fan-out directory`);
      if (createHash('sha256').update(content).digest('hex') !== m[2])
        problems.push(`${f}: content does not hash to its path`);
    } else {
      if (!/^sha256:[0-9a-f]{64}$/.test(content.toString('latin1')))
        problems.push(`${f}: link content ${JSON.stringify(content.toString('latin1'))} is not exactly sha256:<hex>`);
      if (m[1] !== undefined && content.toString('latin1') !== `sha256:${m[1]}`)
        problems.push(`${f}: link points elsewhere`);
      if (
        !existsSync(
          join(
            v2,
            'blobs',
            'sha256',
            content.toString('latin1').slice(7, 9),
            content.toString('latin1').slice(7),
            'data',
          ),
        )
      )
        problems.push(`${f}: dangling`);
    }
  }
  return problems;
}

/** The data file of a blob in a storage root. */
function blobFile(root: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(root, V2, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

function linkFile(root: string, ...parts: string[]): string {
  return join(root, V2, 'repositories', ...parts, 'link');
}

async function json(url: string): Promise<unknown> {
  const r = await fetch(url);
  assert.equal(r.status, 200, url);
  return r.json();
}

/** The images every interop test pushes: a tagged two-layer image and a linux/amd64 + linux/arm64 index. */
interface Fixture {
  layout: OciLayout;
  single: BuiltImage;
  multi: BuiltIndex;
}

function fixture(): Fixture {
  const layout = new OciLayout(join(tempDir('layout'), 'oci'));
  const single = layout.image('interop', { os: 'linux', architecture: 'amd64' }, 1);
  layout.tag('v1', single.manifest);
  const multi = layout.index([
    layout.image('interop-amd64', { os: 'linux', architecture: 'amd64' }),
    layout.image('interop-arm64', { os: 'linux', architecture: 'arm64' }),
  ]);
  layout.tag('multi', multi.index);
  return { layout, single, multi };
}

/**
 * Pushes the fixture with skopeo: the image as `<repo>:v1` and `:v2`, converted to Docker schema 2 as
 * `<repo>:docker`, the index as `<repo>/multi:multi`. Returns the digest of the converted manifest.
 */
async function pushFixture(f: Fixture, host: string, repo: string): Promise<string> {
  await copy(`oci:${f.layout.dir}:v1`, `docker://${host}/${repo}:v1`);
  await copy(`oci:${f.layout.dir}:v1`, `docker://${host}/${repo}:v2`);
  const digestFile = join(tempDir('digest'), 'digest');
  await copy(
    `oci:${f.layout.dir}:v1`,
    `docker://${host}/${repo}:docker`,
    '--format',
    'v2s2',
    '--digestfile',
    digestFile,
  );
  await copy(`oci:${f.layout.dir}:multi`, `docker://${host}/${repo}/multi:multi`, '--all');
  return readFileSync(digestFile, 'utf8').trim();
}

/** Pulls what pushFixture pushed with skopeo and checks every manifest and blob byte for byte. */
async function pullAndCompare(f: Fixture, host: string, repo: string, dockerDigest: string): Promise<void> {
  const out = join(tempDir('pull'), 'oci');
  await copy(`docker://${host}/${repo}:v1`, `oci:${out}:v1`);
  await copy(`docker://${host}/${repo}/multi:multi`, `oci:${out}:multi`, '--all');
  const back = new LayoutReader(out);
  assert.equal(back.ref('v1').digest, f.single.manifest.digest);
  assert.equal(back.ref('multi').digest, f.multi.index.digest);
  const expected: Blob[] = [f.single.manifest, f.single.config, ...f.single.layers, f.multi.index];
  for (const img of f.multi.images) expected.push(img.manifest, img.config, ...img.layers);
  for (const b of expected) assert.deepEqual(back.blob(b.digest), b.bytes, `${b.mediaType} ${b.digest}`);
  const info = JSON.parse(await skopeoOk(['inspect', '--tls-verify=false', `docker://${host}/${repo}:v2`])) as {
    Digest: string;
  };
  assert.equal(info.Digest, f.single.manifest.digest);
  // The Docker schema 2 manifest, through the `dir:` transport, which keeps manifests as served.
  const dir = join(tempDir('pull-docker'), 'dir');
  await copy(`docker://${host}/${repo}:docker`, `dir:${dir}`);
  const manifest = readFileSync(join(dir, 'manifest.json'));
  assert.equal(sha256(manifest), dockerDigest);
  const body = JSON.parse(manifest.toString('utf8')) as {
    mediaType: string;
    config: { digest: string };
    layers: Array<{ digest: string }>;
  };
  assert.equal(body.mediaType, MT.dockerManifest);
  for (const d of [body.config.digest, ...body.layers.map((l) => l.digest)])
    assert.equal(sha256(readFileSync(join(dir, d.slice(7)))), d);
  assert.deepEqual(
    body.layers.map((l) => l.digest),
    f.single.layers.map((l) => l.digest),
  );
}

/**
 * Tags lists and catalog as a server answers them, for comparing two servers on one root. Tags are sorted
 * here: Distribution 2.8 lists them in directory order (v3 and wharf sort them).
 */
async function listings(url: string, repo: string): Promise<unknown> {
  const tags = async (name: string) => {
    const t = (await json(`${url}/v2/${name}/tags/list`)) as { name: string; tags: string[] | null };
    return { ...t, tags: t.tags === null ? null : [...t.tags].sort() };
  };
  return { catalog: await json(`${url}/v2/_catalog`), tags: await tags(repo), multiTags: await tags(`${repo}/multi`) };
}

describe(
  'Distribution -> wharf: wharf serves a root docker-registry wrote',
  { skip: NO_SKOPEO || NO_DISTRIBUTION },
  () => {
    let f: Fixture;
    let root: string;
    let fromDistribution: unknown;
    let dockerDigest: string;
    const repo = 'interop/from-dist';

    before(async () => {
      f = fixture();
      root = join(tempDir('dist-root'), 'data');
    });

    test('docker-registry accepts the pushes (image, second tag, Docker schema 2, two-platform index)', async () => {
      const d = await distribution(root);
      dockerDigest = await pushFixture(f, d.host, repo);
      fromDistribution = await listings(d.url, repo);
      assert.deepEqual(fromDistribution, {
        catalog: { repositories: [repo, `${repo}/multi`] },
        tags: { name: repo, tags: ['docker', 'v1', 'v2'] },
        multiTags: { name: `${repo}/multi`, tags: ['multi'] },
      });
      await d.stop();
      assert.ok(
        existsSync(blobFile(root, f.single.manifest.digest)),
        'docker-registry wrote the layout under the root',
      );
    });

    test('wharf on the same root serves every manifest and blob byte for byte', async () => {
      const w = await wharfOnRoot(root);
      await pullAndCompare(f, `127.0.0.1:${w.port}`, repo, dockerDigest);
      const m = await fetch(`${w.url}/v2/${repo}/multi/manifests/multi`, { headers: { Accept: MT.ociIndex } });
      assert.equal(m.headers.get('content-type'), MT.ociIndex);
      assert.equal(m.headers.get('docker-content-digest'), f.multi.index.digest);
      assert.deepEqual(Buffer.from(await m.arrayBuffer()), f.multi.index.bytes);
    });

    test('wharf answers the same tags lists and catalog as docker-registry did', async () => {
      const w = wharfs.at(-1)!;
      assert.deepEqual(await listings(w.url, repo), fromDistribution);
    });

    test('wharf can delete what docker-registry wrote', async () => {
      const w = wharfs.at(-1)!;
      const host = `127.0.0.1:${w.port}`;
      await skopeoOk(['delete', '--tls-verify=false', `docker://${host}/${repo}:v2`]);
      const r = await fetch(`${w.url}/v2/${repo}/manifests/${f.single.manifest.digest}`, {
        method: 'HEAD',
        headers: { Accept: MT.ociManifest },
      });
      assert.equal(r.status, 404);
      assert.deepEqual(await json(`${w.url}/v2/${repo}/tags/list`), { name: repo, tags: ['docker'] });
      assert.equal(
        existsSync(
          linkFile(root, ...repo.split('/'), '_manifests', 'revisions', 'sha256', f.single.manifest.digest.slice(7)),
        ),
        false,
      );
      // docker-registry sees the deletion the same way on the same root.
      const wharfView = {
        tags: await json(`${w.url}/v2/${repo}/tags/list`),
        catalog: await json(`${w.url}/v2/_catalog`),
      };
      await w.stop();
      const d = await distribution(root);
      const head = await fetch(`${d.url}/v2/${repo}/manifests/${f.single.manifest.digest}`, {
        method: 'HEAD',
        headers: { Accept: MT.ociManifest },
      });
      assert.equal(head.status, 404);
      assert.deepEqual(
        { tags: await json(`${d.url}/v2/${repo}/tags/list`), catalog: await json(`${d.url}/v2/_catalog`) },
        wharfView,
      );
      await d.stop();
    });

    test('a blob docker-registry deleted is unknown to wharf (HEAD and a second DELETE answer 404)', async () => {
      const name = 'interop/blob-deleted';
      const data = Buffer.from('a blob deleted by docker-registry');
      const d = await distribution(root);
      const post = await fetch(`${d.url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
      assert.equal(post.status, 202);
      const loc = new URL(post.headers.get('location')!, d.url);
      loc.searchParams.set('digest', sha256(data));
      assert.equal((await fetch(loc, { method: 'PUT', body: new Uint8Array(data) })).status, 201);
      assert.equal((await fetch(`${d.url}/v2/${name}/blobs/${sha256(data)}`, { method: 'DELETE' })).status, 202);
      await d.stop();
      // Distribution removes the link file and keeps its directory.
      assert.ok(existsSync(join(linkFile(root, ...name.split('/'), '_layers', 'sha256', sha256(data).slice(7)), '..')));
      const w = await wharfOnRoot(root);
      assert.equal((await fetch(`${w.url}/v2/${name}/blobs/${sha256(data)}`, { method: 'HEAD' })).status, 404);
      const del = await fetch(`${w.url}/v2/${name}/blobs/${sha256(data)}`, { method: 'DELETE' });
      assert.equal(del.status, 404);
      assert.equal(((await del.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'BLOB_UNKNOWN');
      await w.stop();
    });
  },
);

describe('wharf -> Distribution: wharf writes the layout docker-registry reads', { skip: NO_SKOPEO }, () => {
  let f: Fixture;
  let w: Wharf;
  let fromWharf: unknown;
  let dockerDigest: string;
  const repo = 'interop/from-wharf';

  before(async () => {
    f = fixture();
    w = await wharf();
  });

  test('skopeo pushes to wharf', async () => {
    dockerDigest = await pushFixture(f, `127.0.0.1:${w.port}`, repo);
    assert.deepEqual(
      await json(`${w.url}/v2/${repo}/tags/list`),
      { name: repo, tags: ['docker', 'v1', 'v2'] },
      'wharf lists tags in lexical order',
    );
    fromWharf = await listings(w.url, repo);
    assert.deepEqual(fromWharf, {
      catalog: { repositories: [repo, `${repo}/multi`] },
      tags: { name: repo, tags: ['docker', 'v1', 'v2'] },
      multiTags: { name: `${repo}/multi`, tags: ['multi'] },
    });
  });

  test('the files wharf wrote are Distribution paths and contents, with no temporary files', () => {
    const root = w.dataDir;
    assert.deepEqual(layoutProblems(root), []);
    const blobs: Blob[] = [
      f.single.manifest,
      f.single.config,
      ...f.single.layers,
      f.multi.index,
      ...f.multi.images.flatMap((i) => [i.manifest, i.config, ...i.layers]),
    ];
    for (const b of blobs) assert.deepEqual(readFileSync(blobFile(root, b.digest)), b.bytes, b.digest);
    const r = repo.split('/');
    const link = (p: string) => readFileSync(p).toString('latin1');
    for (const b of [f.single.config, ...f.single.layers])
      assert.equal(link(linkFile(root, ...r, '_layers', 'sha256', b.digest.slice(7))), b.digest);
    assert.equal(
      link(linkFile(root, ...r, '_manifests', 'revisions', 'sha256', f.single.manifest.digest.slice(7))),
      f.single.manifest.digest,
    );
    for (const tag of ['v1', 'v2']) {
      assert.equal(link(linkFile(root, ...r, '_manifests', 'tags', tag, 'current')), f.single.manifest.digest);
      assert.equal(
        link(linkFile(root, ...r, '_manifests', 'tags', tag, 'index', 'sha256', f.single.manifest.digest.slice(7))),
        f.single.manifest.digest,
      );
    }
    for (const d of [f.multi.index.digest, ...f.multi.images.map((i) => i.manifest.digest)]) {
      assert.equal(link(linkFile(root, ...r, 'multi', '_manifests', 'revisions', 'sha256', d.slice(7))), d);
    }
    assert.equal(link(linkFile(root, ...r, 'multi', '_manifests', 'tags', 'multi', 'current')), f.multi.index.digest);
    // Manifests are linked as revisions only, never as layers (Distribution keeps the two apart).
    assert.equal(existsSync(linkFile(root, ...r, '_layers', 'sha256', f.single.manifest.digest.slice(7))), false);
    // Completed sessions leave nothing under _uploads.
    for (const name of [repo, `${repo}/multi`])
      assert.deepEqual(files(join(root, V2, 'repositories', ...name.split('/'), '_uploads')), []);
  });

  test('docker-registry writes exactly the same files for the same pushes', { skip: NO_DISTRIBUTION }, async () => {
    const root = join(tempDir('dist-same'), 'data');
    const d = await distribution(root);
    assert.equal(await pushFixture(f, d.host, repo), dockerDigest);
    await d.stop();
    const theirs = files(join(root, V2)).filter((p) => !p.includes('/_uploads/'));
    assert.deepEqual(files(join(w.dataDir, V2)), theirs);
    for (const p of theirs) assert.deepEqual(readFileSync(join(w.dataDir, V2, p)), readFileSync(join(root, V2, p)), p);
  });

  test(
    "docker-registry on wharf's root serves everything byte for byte, with the same listings",
    { skip: NO_DISTRIBUTION },
    async () => {
      await w.stop();
      const d = await distribution(w.dataDir);
      await pullAndCompare(f, d.host, repo, dockerDigest);
      assert.deepEqual(await listings(d.url, repo), fromWharf);
      await d.stop();
    },
  );
});

describe(
  'upload sessions move between docker-registry and wharf sharing storage and http.secret',
  { skip: NO_DISTRIBUTION },
  () => {
    let root: string;

    before(() => {
      root = join(tempDir('sessions'), 'data');
    });

    /** POST + one PATCH on `url`; returns the Location to continue with (path and query only). */
    async function begin(url: string, name: string, chunk: Buffer): Promise<string> {
      const post = await fetch(`${url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
      assert.equal(post.status, 202);
      const patch = await fetch(new URL(post.headers.get('location')!, url), {
        method: 'PATCH',
        body: new Uint8Array(chunk),
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      assert.equal(patch.status, 202, await patch.text());
      assert.equal(patch.headers.get('range'), `0-${chunk.length - 1}`);
      const loc = new URL(patch.headers.get('location')!, url);
      return `${loc.pathname}${loc.search}`;
    }

    /** One more PATCH and the closing PUT on `url`; returns the digest the server reports. */
    async function finish(url: string, loc: string, data: Buffer, from: number): Promise<void> {
      const mid = from + Math.floor((data.length - from) / 2);
      const patch = await fetch(`${url}${loc}`, {
        method: 'PATCH',
        body: new Uint8Array(data.subarray(from, mid)),
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      assert.equal(patch.status, 202, await patch.text());
      assert.equal(patch.headers.get('range'), `0-${mid - 1}`);
      const next = new URL(patch.headers.get('location')!, url);
      next.searchParams.set('digest', sha256(data));
      const put = await fetch(`${url}${next.pathname}${next.search}`, {
        method: 'PUT',
        body: new Uint8Array(data.subarray(mid)),
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      assert.equal(put.status, 201, await put.text());
      assert.equal(put.headers.get('docker-content-digest'), sha256(data));
    }

    async function blobOk(url: string, name: string, data: Buffer): Promise<void> {
      const get = await fetch(`${url}/v2/${name}/blobs/${sha256(data)}`);
      assert.equal(get.status, 200);
      assert.deepEqual(Buffer.from(await get.arrayBuffer()), data);
      assert.deepEqual(
        files(join(root, V2, 'repositories', ...name.split('/'), '_uploads')),
        [],
        'the session is gone',
      );
    }

    test('a session docker-registry started is continued and completed by wharf (its hashstates are not needed)', async () => {
      const name = 'sessions/dist-to-wharf';
      const data = randomBytes(2 * 1024 * 1024 + 11);
      const d = await distribution(root);
      const loc = await begin(d.url, name, data.subarray(0, 1024 * 1024));
      await d.stop();
      assert.ok(
        files(join(root, V2, 'repositories', ...name.split('/'), '_uploads')).some((p) => p.includes('/hashstates/')),
        'docker-registry wrote hash states',
      );
      const w = await wharfOnRoot(root);
      const status = await fetch(`${w.url}${loc}`);
      assert.equal(status.status, 204, await status.text());
      assert.equal(status.headers.get('range'), `0-${1024 * 1024 - 1}`);
      await finish(w.url, loc, data, 1024 * 1024);
      await blobOk(w.url, name, data);
      await w.stop();
    });

    test('a session wharf started is continued and completed by docker-registry', async () => {
      const name = 'sessions/wharf-to-dist';
      const data = randomBytes(2 * 1024 * 1024 + 13);
      const w = await wharfOnRoot(root);
      const loc = await begin(w.url, name, data.subarray(0, 1024 * 1024 + 1));
      await w.stop('SIGKILL');
      const d = await distribution(root);
      await finish(d.url, loc, data, 1024 * 1024 + 1);
      await blobOk(d.url, name, data);
      await d.stop();
    });

    test('a session wharf started with no byte written yet (no data file) is continued and completed by docker-registry', async () => {
      const name = 'sessions/wharf-to-dist-empty';
      const data = randomBytes(1024 * 1024 + 7);
      const w = await wharfOnRoot(root);
      const post = await fetch(`${w.url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
      assert.equal(post.status, 202);
      const loc = new URL(post.headers.get('location')!, w.url);
      const uuid = post.headers.get('docker-upload-uuid')!;
      assert.deepEqual(
        files(join(root, V2, 'repositories', ...name.split('/'), '_uploads')),
        [`${uuid}/startedat`],
        'wharf writes only startedat',
      );
      await w.stop('SIGKILL');
      const d = await distribution(root);
      await finish(d.url, `${loc.pathname}${loc.search}`, data, 0);
      await blobOk(d.url, name, data);
      await d.stop();
    });
  },
);

/** Sends a request with Content-Length `data.length` whose body trickles out in 1 MiB chunks; never ends early. */
function trickle(url: string, method: string, data: Buffer): { done: Promise<number | Error> } {
  const done = new Promise<number | Error>((resolve) => {
    const req = request(url, {
      method,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length },
    });
    let failed = false;
    req.on('error', (err) => {
      failed = true;
      resolve(err);
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    void (async () => {
      for (let off = 0; off < data.length && !failed; off += 1 << 20) {
        if (!req.write(data.subarray(off, off + (1 << 20))))
          await new Promise((r) => req.once('drain', r).once('close', r));
        await new Promise((r) => setTimeout(r, 15));
      }
      if (!failed) req.end();
    })();
  });
  return { done };
}

/** Bytes sitting in the repository's upload sessions on disk. */
function uploadBytes(root: string, name: string): number {
  const dir = join(root, V2, 'repositories', ...name.split('/'), '_uploads');
  // A write's temporary file may be renamed between the listing and its stat: it then counts as nothing.
  return files(dir).reduce((n, p) => n + (statSync(join(dir, p), { throwIfNoEntry: false })?.size ?? 0), 0);
}

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('crash safety and restarts on one data directory', () => {
  let w: Wharf;

  before(async () => {
    w = await wharf();
  });

  /** Kills the current wharf with SIGKILL and starts a new one on the same directory (same config and secret). */
  async function restart(): Promise<void> {
    await w.stop('SIGKILL');
    w = await wharf({ dir: w.dir });
  }

  test('an upload session continues after SIGKILL and restart with the same http.secret (re-hash path)', async () => {
    const name = 'crash/resume';
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const parts = [
      data.subarray(0, 1024 * 1024),
      data.subarray(1024 * 1024, 2 * 1024 * 1024 + 5),
      data.subarray(2 * 1024 * 1024 + 5),
    ];
    const post = await fetch(`${w.url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.status, 202);
    const first = new URL(post.headers.get('location')!, w.url);
    const patch = await fetch(first, {
      method: 'PATCH',
      body: parts[0],
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${parts[0].length - 1}` },
    });
    assert.equal(patch.status, 202);
    assert.equal(patch.headers.get('range'), `0-${parts[0].length - 1}`);
    const loc = new URL(patch.headers.get('location')!, w.url);

    await restart();
    const at = (u: URL) => `${w.url}${u.pathname}${u.search}`;
    const status = await fetch(at(loc));
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${parts[0].length - 1}`);
    // The state from before the first chunk names the wrong offset now: refused, and nothing is appended.
    const stale = await fetch(at(first), {
      method: 'PATCH',
      body: parts[1],
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    await stale.arrayBuffer();
    assert.ok(stale.status >= 400, `stale upload state accepted: ${stale.status}`);

    const patch2 = await fetch(at(loc), {
      method: 'PATCH',
      body: parts[1],
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `${parts[0].length}-${parts[0].length + parts[1].length - 1}`,
      },
    });
    assert.equal(patch2.status, 202, await patch2.text());
    assert.equal(patch2.headers.get('range'), `0-${parts[0].length + parts[1].length - 1}`);
    const loc2 = new URL(patch2.headers.get('location')!, w.url);
    loc2.searchParams.set('digest', sha256(data));
    const put = await fetch(at(loc2), {
      method: 'PUT',
      body: parts[2],
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(put.status, 201, await put.text());
    assert.equal(put.headers.get('docker-content-digest'), sha256(data));
    const get = await fetch(`${w.url}/v2/${name}/blobs/${sha256(data)}`);
    assert.equal(get.status, 200);
    assert.equal(sha256(Buffer.from(await get.arrayBuffer())), sha256(data));
    assert.deepEqual(readFileSync(blobFile(w.dataDir, sha256(data))), data);
  });

  const SIZE = 64 * 1024 * 1024;
  const cases: Array<{
    how: string;
    send: (name: string, digest: string) => Promise<{ done: Promise<number | Error> }>;
  }> = [
    {
      how: 'a streamed PATCH',
      send: async (name) => {
        const post = await fetch(`${w.url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
        assert.equal(post.status, 202);
        return trickle(new URL(post.headers.get('location')!, w.url).href, 'PATCH', big);
      },
    },
    {
      how: 'a PUT completing an upload with the whole body',
      send: async (name, digest) => {
        const post = await fetch(`${w.url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
        assert.equal(post.status, 202);
        const loc = new URL(post.headers.get('location')!, w.url);
        loc.searchParams.set('digest', digest);
        return trickle(loc.href, 'PUT', big);
      },
    },
    {
      how: 'a monolithic POST ?digest=',
      send: async (name, digest) => trickle(`${w.url}/v2/${name}/blobs/uploads/?digest=${digest}`, 'POST', big),
    },
  ];
  let big: Buffer;

  for (const c of cases) {
    test(`SIGKILL in the middle of ${c.how} of 64 MiB leaves no blob and no partial file under blobs/`, async () => {
      big ??= randomBytes(SIZE);
      const digest = sha256(big);
      const name = `crash/kill-${cases.indexOf(c)}`;
      const { done } = await c.send(name, digest);
      await until('the server to have written part of the body', () => uploadBytes(w.dataDir, name) >= 8 * 1024 * 1024);
      await restart();
      const result = await done;
      assert.ok(result instanceof Error, `the request completed with ${String(result)} before the kill`);
      assert.ok(uploadBytes(w.dataDir, name) < SIZE, 'the body was cut short');

      const head = await fetch(`${w.url}/v2/${name}/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(head.status, 404);
      const mount = await fetch(`${w.url}/v2/crash/other/blobs/uploads/?mount=${digest}`, { method: 'POST' });
      await mount.arrayBuffer();
      assert.equal(mount.status, 202, 'a blob that was never completed must not be mountable');
      assert.equal(existsSync(join(blobFile(w.dataDir, digest), '..')), false, 'no blob directory for the digest');
      const problems = layoutProblems(w.dataDir).filter((p) => !/\/_uploads\//.test(p));
      assert.deepEqual(problems, []);
    });
  }

  test('concurrent monolithic uploads of one blob to several repositories all succeed; the blob is intact', async () => {
    const data = randomBytes(8 * 1024 * 1024 + 3);
    const digest = sha256(data);
    const names = ['race/a', 'race/b', 'race/c', 'race/d'];
    const results = await Promise.all(
      names.map(async (n) => {
        const r = await fetch(`${w.url}/v2/${n}/blobs/uploads/?digest=${digest}`, {
          method: 'POST',
          body: data,
          headers: { 'Content-Type': 'application/octet-stream' },
        });
        return { status: r.status, body: await r.text(), digest: r.headers.get('docker-content-digest') };
      }),
    );
    for (const r of results) assert.deepEqual({ status: r.status, digest: r.digest }, { status: 201, digest }, r.body);
    for (const n of names) {
      const get = await fetch(`${w.url}/v2/${n}/blobs/${digest}`);
      assert.equal(get.status, 200, n);
      assert.equal(get.headers.get('content-length'), String(data.length));
      assert.equal(sha256(Buffer.from(await get.arrayBuffer())), digest, n);
      assert.deepEqual(
        files(join(w.dataDir, V2, 'repositories', ...n.split('/'), '_uploads')),
        [],
        `${n}: upload session removed`,
      );
    }
    assert.deepEqual(readFileSync(blobFile(w.dataDir, digest)), data);
    assert.deepEqual(
      layoutProblems(w.dataDir).filter((p) => !/\/_uploads\//.test(p)),
      [],
    );
  });
});
