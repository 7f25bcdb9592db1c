/**
 * Garbage collection whatever digest algorithm named the content (issue 12): tagged images, index children and
 * referrers pushed by sha256, sha384 and sha512 digests survive `wharf garbage-collect --grace 0s` whole (every
 * manifest and blob they reach), with and without `--delete-untagged`; a tag whose link names a sha384 revision
 * keeps its repository; untagged content of every algorithm is still removed with `--delete-untagged`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MAIN, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, startWharf, type Wharf } from './harness.js';

const ALGORITHMS = ['sha256', 'sha384', 'sha512'] as const;
type Alg = (typeof ALGORITHMS)[number];
const digestOf = (alg: Alg, b: Buffer) => `${alg}:${createHash(alg).update(b).digest('hex')}`;

function gc(w: Wharf, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  const proc = spawn(process.execPath, [MAIN, 'garbage-collect', '--grace', '0s', ...args, join(w.dir, 'config.yml')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** Something pushed, and everything a pull of it reaches (repository, digest -> bytes). */
interface Content {
  repo: string;
  manifests: Map<string, Buffer>;
  blobs: Map<string, Buffer>;
}

let w: Wharf;

const v2 = () => join(w.dataDir, 'docker/registry/v2');
const split = (d: string) => d.split(':') as [string, string];
const revisionFile = (repo: string, d: string) =>
  join(v2(), 'repositories', repo, '_manifests/revisions', ...split(d), 'link');
const blobFile = (d: string) => join(v2(), 'blobs', split(d)[0], split(d)[1].slice(0, 2), split(d)[1], 'data');

async function blob(repo: string, alg: Alg, data: Buffer, c: Content): Promise<string> {
  const d = digestOf(alg, data);
  const r = await fetch(`${w.url}/v2/${repo}/blobs/uploads/?digest=${d}`, {
    method: 'POST',
    body: new Uint8Array(data),
  });
  await r.arrayBuffer();
  assert.equal(r.status, 201, `blob ${d}`);
  c.blobs.set(d, data);
  return d;
}

async function manifest(repo: string, ref: string, body: Buffer, mediaType: string, c: Content): Promise<void> {
  const r = await fetch(`${w.url}/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    body: new Uint8Array(body),
    headers: { 'Content-Type': mediaType },
  });
  const text = await r.text();
  assert.equal(r.status, 201, `manifest ${repo}:${ref}: ${text}`);
  c.manifests.set(r.headers.get('docker-content-digest')!, body);
}

/** An image whose blobs are named by `blobAlg`, pushed by its `manifestAlg` digest (or by `tag`, then sha256). */
async function image(
  repo: string,
  seed: string,
  blobAlg: Alg,
  manifestAlg: Alg,
  c: Content,
  extra: Record<string, unknown> = {},
  tag?: string,
): Promise<{ digest: string; size: number }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const layer = Buffer.from(`layer ${seed} ${'q'.repeat(64)}`);
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: await blob(repo, blobAlg, config, c), size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: await blob(repo, blobAlg, layer, c), size: layer.length }],
      ...extra,
    }),
  );
  const digest = digestOf(tag ? 'sha256' : manifestAlg, body);
  await manifest(repo, tag ?? digest, body, OCI_MANIFEST, c);
  return { digest, size: body.length };
}

/** Per algorithm: a tagged index of two children pushed by that algorithm, and a signature-like referrer of it. */
async function pushAll(alg: Alg): Promise<{ kept: Content; untagged: Content }> {
  const repo = `gcalg/${alg}`;
  const kept: Content = { repo, manifests: new Map(), blobs: new Map() };
  const amd = await image(repo, `${alg}-amd`, alg, alg, kept);
  const arm = await image(repo, `${alg}-arm`, alg === 'sha256' ? 'sha512' : 'sha256', alg, kept);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: amd.digest,
          size: amd.size,
          platform: { architecture: 'amd64', os: 'linux' },
        },
        {
          mediaType: OCI_MANIFEST,
          digest: arm.digest,
          size: arm.size,
          platform: { architecture: 'arm64', os: 'linux' },
        },
      ],
    }),
  );
  await manifest(repo, 'latest', index, OCI_INDEX, kept);
  const subject = { mediaType: OCI_INDEX, digest: digestOf('sha256', index), size: index.length };
  // The referrer is pushed by its own `alg` digest, and its layer (the signature) by `alg` too.
  await image(repo, `${alg}-signature`, alg, alg, kept, { artifactType: 'application/vnd.example.signature', subject });
  // And one pushed by `alg` whose blobs are sha256 (what a signing tool that hashes its manifest otherwise does).
  await image(repo, `${alg}-signature-256`, 'sha256', alg, kept, {
    artifactType: 'application/vnd.example.signature',
    subject,
  });
  // A tagged image whose blobs are named by `alg`.
  await image(repo, `${alg}-tagged`, alg, 'sha256', kept, {}, 'plain');
  const untagged: Content = { repo, manifests: new Map(), blobs: new Map() };
  await image(repo, `${alg}-untagged`, alg, alg, untagged);
  return { kept, untagged };
}

async function get(path: string, accept = `${OCI_MANIFEST}, ${OCI_INDEX}`): Promise<{ status: number; body: Buffer }> {
  const r = await fetch(`${w.url}${path}`, { headers: { Accept: accept } });
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
}

async function assertWhole(c: Content): Promise<void> {
  // On disk first: the running server may answer a removed manifest from its cache for a while.
  for (const d of c.manifests.keys())
    assert.ok(existsSync(revisionFile(c.repo, d)) && existsSync(blobFile(d)), `${c.repo}@${d} was removed`);
  for (const d of c.blobs.keys()) assert.ok(existsSync(blobFile(d)), `${c.repo} blob ${d} was removed`);
  for (const [d, body] of c.manifests) {
    const r = await get(`/v2/${c.repo}/manifests/${d}`);
    assert.equal(r.status, 200, `${c.repo}@${d} is gone`);
    assert.ok(r.body.equals(body), `${c.repo}@${d} changed`);
  }
  for (const [d, data] of c.blobs) {
    const r = await get(`/v2/${c.repo}/blobs/${d}`);
    assert.equal(r.status, 200, `${c.repo} blob ${d} is gone`);
    assert.ok(r.body.equals(data), `${c.repo} blob ${d} changed`);
  }
}

describe('garbage-collect keeps everything a tag reaches, whatever the digest algorithm', () => {
  const pushed = new Map<Alg, { kept: Content; untagged: Content }>();
  let tagged384: Content;
  before(async () => {
    w = await startWharf();
    for (const alg of ALGORITHMS) pushed.set(alg, await pushAll(alg));
    // A tag whose link names a sha384 revision (written as another tool would: wharf tags by sha256).
    tagged384 = { repo: 'gcalg/tag384', manifests: new Map(), blobs: new Map() };
    const m = await image('gcalg/tag384', 'tag384', 'sha384', 'sha384', tagged384);
    const tagDir = join(w.dataDir, 'docker/registry/v2/repositories/gcalg/tag384/_manifests/tags/v1');
    const hex = m.digest.slice('sha384:'.length);
    mkdirSync(join(tagDir, 'current'), { recursive: true });
    mkdirSync(join(tagDir, 'index/sha384', hex), { recursive: true });
    writeFileSync(join(tagDir, 'current/link'), m.digest);
    writeFileSync(join(tagDir, 'index/sha384', hex, 'link'), m.digest);
  });
  after(async () => {
    await w?.cleanup();
  });

  test('without --delete-untagged: every manifest and blob of every algorithm stays', async () => {
    const run = await gc(w);
    assert.equal(run.code, 0, run.stderr);
    for (const { kept, untagged } of pushed.values()) {
      await assertWhole(kept);
      await assertWhole(untagged);
    }
    await assertWhole(tagged384);
  });

  test('with --delete-untagged: tagged images, index children and referrers stay whole; untagged ones go', async () => {
    const run = await gc(w, '--delete-untagged');
    assert.equal(run.code, 0, run.stderr);
    for (const [alg, { kept, untagged }] of pushed) {
      await assertWhole(kept);
      // On disk: the running server may answer a removed manifest from its cache for a while (see gc.ts).
      for (const d of untagged.manifests.keys())
        assert.ok(!existsSync(revisionFile(untagged.repo, d)), `${alg}: untagged ${d} kept`);
      for (const d of untagged.blobs.keys())
        assert.ok(!existsSync(blobFile(d)), `${alg}: blob ${d} of the untagged image kept`);
    }
    await assertWhole(tagged384);
    const tags = JSON.parse((await get('/v2/gcalg/tag384/tags/list')).body.toString()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v1']);
    const catalog = JSON.parse((await get('/v2/_catalog')).body.toString()) as { repositories: string[] };
    assert.ok(catalog.repositories.includes('gcalg/tag384'), catalog.repositories.join(', '));
  });

  test('a manifest stored under an algorithm wharf cannot verify makes the run remove nothing', async () => {
    const orphanRepo: Content = { repo: 'gcalg/blind', manifests: new Map(), blobs: new Map() };
    await image('gcalg/blind', 'blind', 'sha256', 'sha256', orphanRepo);
    mkdirSync(
      join(w.dataDir, 'docker/registry/v2/repositories/gcalg/blind/_manifests/revisions/blake3', 'ab'.repeat(32)),
      { recursive: true },
    );
    writeFileSync(
      join(
        w.dataDir,
        'docker/registry/v2/repositories/gcalg/blind/_manifests/revisions/blake3',
        'ab'.repeat(32),
        'link',
      ),
      `blake3:${'ab'.repeat(32)}`,
    );
    const run = await gc(w, '--delete-untagged');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /unsupported digest algorithm/);
    await assertWhole(orphanRepo);
  });
});
