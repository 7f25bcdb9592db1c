/**
 * The real `skopeo` against wharf: images built here as an OCI layout (one single-platform image and a
 * linux/amd64 + linux/arm64 index) are pushed, inspected, listed, pulled back byte for byte, copied across
 * repositories (blob mount), converted to Docker schema 2 on push, and deleted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha256, startWharf, type Wharf } from './harness.js';
import { LayoutReader, MT, OciLayout, type BuiltImage, type BuiltIndex } from './ocilayout.js';
import { copy, SKOPEO, SKOPEO_MISSING, skopeo, skopeoOk } from './skopeo.js';

describe('skopeo against wharf', { skip: SKOPEO ? false : SKOPEO_MISSING }, () => {
  let w: Wharf;
  let work: string;
  let layout: OciLayout;
  let single: BuiltImage;
  let multi: BuiltIndex;
  let reg: string;
  let n = 0;
  /** A fresh directory under the test's work directory. */
  const scratch = (what: string) => join(work, `${what}-${++n}`);
  const docker = (ref: string) => `docker://${reg}/${ref}`;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-skopeo-'));
    layout = new OciLayout(join(work, 'src'));
    single = layout.image('single', { os: 'linux', architecture: 'amd64' }, 1);
    layout.tag('v1', single.manifest);
    multi = layout.index([
      layout.image('multi-amd64', { os: 'linux', architecture: 'amd64' }),
      layout.image('multi-arm64', { os: 'linux', architecture: 'arm64' }),
    ]);
    layout.tag('multi', multi.index);
    w = await startWharf();
    reg = `127.0.0.1:${w.port}`;
  });

  after(async () => {
    await w?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** GET a manifest from wharf with every manifest type accepted. */
  async function getManifest(
    name: string,
    ref: string,
  ): Promise<{ status: number; type: string | null; digest: string | null; bytes: Buffer }> {
    const r = await fetch(`${w.url}/v2/${name}/manifests/${ref}`, {
      headers: { Accept: [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ') },
    });
    return {
      status: r.status,
      type: r.headers.get('content-type'),
      digest: r.headers.get('docker-content-digest'),
      bytes: Buffer.from(await r.arrayBuffer()),
    };
  }

  async function getBlob(name: string, digest: string): Promise<{ status: number; bytes: Buffer }> {
    const r = await fetch(`${w.url}/v2/${name}/blobs/${digest}`);
    return { status: r.status, bytes: Buffer.from(await r.arrayBuffer()) };
  }

  test('copy oci: -> docker:// pushes a single image under the digest it was built with', async () => {
    const digestFile = scratch('digest');
    await copy(`oci:${layout.dir}:v1`, docker('e2e/single:v1'), '--digestfile', digestFile);
    assert.equal(readFileSync(digestFile, 'utf8').trim(), single.manifest.digest);
    const m = await getManifest('e2e/single', 'v1');
    assert.equal(m.status, 200);
    assert.equal(m.type, MT.ociManifest);
    assert.equal(m.digest, single.manifest.digest);
    assert.deepEqual(m.bytes, single.manifest.bytes);
    for (const b of [single.config, ...single.layers])
      assert.deepEqual((await getBlob('e2e/single', b.digest)).bytes, b.bytes, b.digest);
  });

  test('inspect reports the pushed digest, platform and layers; --raw and --config --raw return our bytes', async () => {
    const info = JSON.parse(await skopeoOk(['inspect', '--tls-verify=false', docker('e2e/single:v1')])) as Record<
      string,
      unknown
    >;
    assert.equal(info.Digest, single.manifest.digest);
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Os, 'linux');
    assert.deepEqual(
      info.Layers,
      single.layers.map((l) => l.digest),
    );
    const raw = await skopeoOk(['inspect', '--raw', '--tls-verify=false', docker('e2e/single:v1')]);
    assert.equal(raw, single.manifest.bytes.toString('utf8'));
    const rawByDigest = await skopeoOk([
      'inspect',
      '--raw',
      '--tls-verify=false',
      docker(`e2e/single@${single.manifest.digest}`),
    ]);
    assert.equal(rawByDigest, single.manifest.bytes.toString('utf8'));
    const config = await skopeoOk(['inspect', '--config', '--raw', '--tls-verify=false', docker('e2e/single:v1')]);
    assert.equal(config, single.config.bytes.toString('utf8'));
  });

  test('copy --all pushes the two-platform index with both images', async () => {
    const digestFile = scratch('digest');
    await copy(`oci:${layout.dir}:multi`, docker('e2e/multi:multi'), '--all', '--digestfile', digestFile);
    assert.equal(readFileSync(digestFile, 'utf8').trim(), multi.index.digest);
    const raw = await skopeoOk(['inspect', '--raw', '--tls-verify=false', docker('e2e/multi:multi')]);
    assert.equal(raw, multi.index.bytes.toString('utf8'));
    const m = await getManifest('e2e/multi', 'multi');
    assert.equal(m.type, MT.ociIndex);
    assert.equal(m.digest, multi.index.digest);
    for (const img of multi.images) {
      const child = await getManifest('e2e/multi', img.manifest.digest);
      assert.equal(child.status, 200, img.platform.architecture);
      assert.deepEqual(child.bytes, img.manifest.bytes);
      for (const b of [img.config, ...img.layers])
        assert.deepEqual((await getBlob('e2e/multi', b.digest)).bytes, b.bytes, b.digest);
    }
    // inspect reports the index's digest and the image of the requested platform.
    const arm = JSON.parse(
      await skopeoOk([
        '--override-arch',
        'arm64',
        '--override-os',
        'linux',
        'inspect',
        '--tls-verify=false',
        docker('e2e/multi:multi'),
      ]),
    ) as Record<string, unknown>;
    assert.equal(arm.Digest, multi.index.digest);
    assert.equal(arm.Architecture, 'arm64');
    assert.deepEqual(
      arm.Layers,
      multi.images[1].layers.map((l) => l.digest),
    );
  });

  test('list-tags lists every tag of the repository', async () => {
    await copy(`oci:${layout.dir}:v1`, docker('e2e/single:v2'));
    await copy(`oci:${layout.dir}:v1`, docker('e2e/single:latest'));
    const out = JSON.parse(await skopeoOk(['list-tags', '--tls-verify=false', docker('e2e/single')])) as {
      Repository: string;
      Tags: string[];
    };
    assert.equal(out.Repository, `${reg}/e2e/single`);
    assert.deepEqual([...out.Tags].sort(), ['latest', 'v1', 'v2']);
    const unknown = await skopeo(['list-tags', '--tls-verify=false', docker('e2e/never-pushed')]);
    assert.notEqual(unknown.code, 0, 'listing tags of an unknown repository must fail');
  });

  test('copy docker:// -> oci: pulls the single image back byte for byte', async () => {
    const out = scratch('pull-single');
    await copy(docker('e2e/single:v1'), `oci:${out}:v1`);
    const back = new LayoutReader(out);
    const ref = back.ref('v1');
    assert.equal(ref.digest, single.manifest.digest);
    assert.equal(ref.mediaType, MT.ociManifest);
    assert.deepEqual(back.blob(ref.digest), single.manifest.bytes);
    for (const b of [single.config, ...single.layers]) assert.deepEqual(back.blob(b.digest), b.bytes, b.digest);
  });

  test('copy --all docker:// -> oci: pulls the index and both images back byte for byte', async () => {
    const out = scratch('pull-multi');
    await copy(docker('e2e/multi:multi'), `oci:${out}:multi`, '--all');
    const back = new LayoutReader(out);
    const ref = back.ref('multi');
    assert.equal(ref.digest, multi.index.digest);
    assert.equal(ref.mediaType, MT.ociIndex);
    assert.deepEqual(back.blob(ref.digest), multi.index.bytes);
    for (const img of multi.images) {
      assert.deepEqual(back.blob(img.manifest.digest), img.manifest.bytes);
      for (const b of [img.config, ...img.layers]) assert.deepEqual(back.blob(b.digest), b.bytes, b.digest);
    }
  });

  test('copy of the index without --all pulls only the image of the requested platform', async () => {
    const out = scratch('pull-arm64');
    await skopeoOk([
      '--override-arch',
      'arm64',
      '--override-os',
      'linux',
      'copy',
      '--src-tls-verify=false',
      docker('e2e/multi:multi'),
      `oci:${out}:arm`,
    ]);
    const back = new LayoutReader(out);
    const arm = multi.images[1];
    assert.equal(back.ref('arm').digest, arm.manifest.digest);
    assert.deepEqual(back.blob(arm.layers[0].digest), arm.layers[0].bytes);
    assert.throws(
      () => back.blob(multi.images[0].layers[0].digest),
      /ENOENT/,
      'the amd64 layer must not have been pulled',
    );
  });

  test('copy between two repositories of wharf mounts the blobs and keeps every digest', async () => {
    const r = await skopeo([
      '--debug',
      'copy',
      '--all',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      docker('e2e/multi:multi'),
      docker('e2e/mirror/multi:copied'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    // skopeo mounts layers it has seen in the source repository (it uploads configs again): every layer must
    // have been mounted, which wharf answers with 201 ("mount OK" in skopeo's debug log).
    const layers = multi.images.flatMap((img) => img.layers);
    for (const l of layers)
      assert.match(
        r.stderr,
        new RegExp(`Trying to mount [^"]*from=e2e%2Fmulti&mount=sha256%3A${l.digest.slice(7)}`),
        l.digest,
      );
    assert.equal(r.stderr.match(/mount OK/g)?.length ?? 0, layers.length, 'every layer mount succeeded');
    const m = await getManifest('e2e/mirror/multi', 'copied');
    assert.equal(m.digest, multi.index.digest);
    assert.deepEqual(m.bytes, multi.index.bytes);
    for (const img of multi.images) {
      for (const b of [img.config, ...img.layers]) {
        const got = await getBlob('e2e/mirror/multi', b.digest);
        assert.equal(got.status, 200, b.digest);
        assert.equal(sha256(got.bytes), b.digest);
      }
    }
    const catalog = (await (await fetch(`${w.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.ok(catalog.repositories.includes('e2e/mirror/multi'), JSON.stringify(catalog));
  });

  test('copy --format v2s2 stores a Docker schema 2 manifest that reads back unchanged', async () => {
    const digestFile = scratch('digest');
    await copy(`oci:${layout.dir}:v1`, docker('e2e/docker:v1'), '--format', 'v2s2', '--digestfile', digestFile);
    const digest = readFileSync(digestFile, 'utf8').trim();
    assert.notEqual(digest, single.manifest.digest, 'the converted manifest is a different document');
    const m = await getManifest('e2e/docker', 'v1');
    assert.equal(m.status, 200);
    assert.equal(m.type, MT.dockerManifest);
    assert.equal(m.digest, digest);
    assert.equal(sha256(m.bytes), digest);
    const body = JSON.parse(m.bytes.toString('utf8')) as {
      mediaType: string;
      config: { mediaType: string; digest: string };
      layers: Array<{ mediaType: string; digest: string }>;
    };
    assert.equal(body.mediaType, MT.dockerManifest);
    assert.equal(body.config.mediaType, 'application/vnd.docker.container.image.v1+json');
    assert.deepEqual(
      body.layers.map((l) => l.mediaType),
      single.layers.map(() => 'application/vnd.docker.image.rootfs.diff.tar.gzip'),
    );
    assert.deepEqual(
      body.layers.map((l) => l.digest),
      single.layers.map((l) => l.digest),
      'layers are not recompressed',
    );

    // The `dir:` transport keeps the manifest as stored: compare what a client pulls with what wharf holds.
    const out = scratch('pull-docker');
    await copy(docker('e2e/docker:v1'), `dir:${out}`);
    assert.deepEqual(readFileSync(join(out, 'manifest.json')), m.bytes);
    for (const l of single.layers) assert.deepEqual(readFileSync(join(out, l.digest.split(':')[1])), l.bytes);
    const info = JSON.parse(await skopeoOk(['inspect', '--tls-verify=false', docker('e2e/docker:v1')])) as Record<
      string,
      unknown
    >;
    assert.equal(info.Digest, digest);
  });

  test('copy --all --format v2s2 stores a Docker manifest list; an old client gets the linux/amd64 image', async () => {
    const digestFile = scratch('digest');
    await copy(
      `oci:${layout.dir}:multi`,
      docker('e2e/dockerlist:multi'),
      '--all',
      '--format',
      'v2s2',
      '--digestfile',
      digestFile,
    );
    const digest = readFileSync(digestFile, 'utf8').trim();
    const m = await getManifest('e2e/dockerlist', 'multi');
    assert.equal(m.type, MT.dockerList);
    assert.equal(m.digest, digest);
    const list = JSON.parse(m.bytes.toString('utf8')) as {
      manifests: Array<{ mediaType: string; digest: string; platform: { architecture: string } }>;
    };
    assert.deepEqual(
      list.manifests.map((c) => [c.mediaType, c.platform.architecture]),
      [
        [MT.dockerManifest, 'amd64'],
        [MT.dockerManifest, 'arm64'],
      ],
    );

    const out = scratch('pull-dockerlist');
    await copy(docker('e2e/dockerlist:multi'), `dir:${out}`, '--all');
    assert.deepEqual(readFileSync(join(out, 'manifest.json')), m.bytes);
    for (const c of list.manifests) {
      const child = readFileSync(join(out, `${c.digest.slice(7)}.manifest.json`));
      assert.equal(sha256(child), c.digest);
      assert.deepEqual(child, (await getManifest('e2e/dockerlist', c.digest)).bytes);
    }
    // A client that accepts only schema 2 images is served the linux/amd64 child of a list, as by Distribution.
    const old = await fetch(`${w.url}/v2/e2e/dockerlist/manifests/multi`, { headers: { Accept: MT.dockerManifest } });
    assert.equal(old.status, 200);
    assert.equal(old.headers.get('docker-content-digest'), list.manifests[0].digest);
    assert.equal(old.headers.get('content-type'), MT.dockerManifest);
  });

  test('other upload shapes: recompressed (zstd) and precomputed-digest pushes read back intact', async () => {
    const shapes: Array<{ repo: string; opts: string[]; layerType: string }> = [
      {
        repo: 'e2e/shape/zstd',
        opts: ['--dest-compress', '--dest-compress-format', 'zstd'],
        layerType: 'application/vnd.oci.image.layer.v1.tar+zstd',
      },
      { repo: 'e2e/shape/pre', opts: ['--dest-precompute-digests'], layerType: MT.ociLayer },
    ];
    for (const { repo, opts, layerType } of shapes) {
      // A fresh image each time: skopeo would otherwise reuse the gzip layers it knows the registry has.
      const img = layout.image(repo);
      layout.tag(repo, img.manifest);
      const digestFile = scratch('digest');
      await copy(`oci:${layout.dir}:${repo}`, docker(`${repo}:v1`), ...opts, '--digestfile', digestFile);
      const m = await getManifest(repo, 'v1');
      assert.equal(m.digest, readFileSync(digestFile, 'utf8').trim(), repo);
      const body = JSON.parse(m.bytes.toString('utf8')) as {
        layers: Array<{ mediaType: string; digest: string; size: number }>;
      };
      assert.deepEqual(
        body.layers.map((l) => l.mediaType),
        img.layers.map(() => layerType),
        repo,
      );
      for (const l of body.layers) {
        const blob = await getBlob(repo, l.digest);
        assert.equal(blob.status, 200, `${repo} ${l.digest}`);
        assert.equal(sha256(blob.bytes), l.digest);
        assert.equal(blob.bytes.length, l.size);
      }
      // Pulled back through skopeo (which verifies every digest) to a `dir:` copy.
      const out = scratch('pull-shape');
      await copy(docker(`${repo}:v1`), `dir:${out}`);
      assert.deepEqual(readFileSync(join(out, 'manifest.json')), m.bytes, repo);
    }
  });

  test('skopeo delete removes the manifest: it and its tag then answer 404', async () => {
    await copy(`oci:${layout.dir}:v1`, docker('e2e/del:v1'));
    assert.equal((await getManifest('e2e/del', 'v1')).status, 200);
    await skopeoOk(['delete', '--tls-verify=false', docker('e2e/del:v1')]);
    const byDigest = await getManifest('e2e/del', single.manifest.digest);
    assert.equal(byDigest.status, 404);
    assert.equal(
      (JSON.parse(byDigest.bytes.toString('utf8')) as { errors: Array<{ code: string }> }).errors[0].code,
      'MANIFEST_UNKNOWN',
    );
    assert.equal((await getManifest('e2e/del', 'v1')).status, 404);
    const inspect = await skopeo(['inspect', '--tls-verify=false', docker('e2e/del:v1')]);
    assert.notEqual(inspect.code, 0);
    assert.match(inspect.stderr, /manifest unknown/i);
    // The same manifest in another repository is untouched.
    assert.equal((await getManifest('e2e/single', single.manifest.digest)).status, 200);
  });
});
