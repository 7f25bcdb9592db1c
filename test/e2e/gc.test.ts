/**
 * `wharf garbage-collect` against the data directory of a running wharf: dry run, grace period, what exactly is
 * removed (files and HTTP), that every kept image still pulls, and that images pushed while GC runs survive.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  MAIN,
  makeImage,
  OCI_INDEX,
  OCI_MANIFEST,
  pushBlob,
  pushManifest,
  sha256,
  startWharf,
  type Wharf,
} from './harness.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function gc(w: Wharf, ...args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  const proc = spawn(process.execPath, [MAIN, 'garbage-collect', ...args, join(w.dir, 'config.yml')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** `removed blob <digest>` / `would remove manifest <repo>@<digest>` lines of a run, by kind. */
function removed(run: Run, kind: 'manifest' | 'blob' | 'repository'): string[] {
  const re = new RegExp(`^(?:removed|would remove) ${kind} (\\S+)`);
  return run.stdout
    .split('\n')
    .map((l) => re.exec(l)?.[1])
    .filter((x): x is string => x !== undefined)
    .sort();
}

function tookSeconds(run: Run): number {
  return Number(/took ([\d.]+) s/.exec(run.stdout)?.[1] ?? NaN);
}

function files(dir: string): string[] {
  return (
    readdirSync(dir, { recursive: true, withFileTypes: true }) as Array<{
      name: string;
      parentPath?: string;
      path?: string;
      isFile(): boolean;
    }>
  )
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath ?? e.path ?? '', e.name)))
    .sort();
}

const V2 = join('docker', 'registry', 'v2');
const hexOf = (d: string) => d.slice('sha256:'.length);
const blobFile = (d: string) => join(V2, 'blobs', 'sha256', hexOf(d).slice(0, 2), hexOf(d), 'data');
const repoFile = (repo: string, ...rest: string[]) => join(V2, 'repositories', repo, ...rest);
const revisionFile = (repo: string, d: string) => repoFile(repo, '_manifests', 'revisions', 'sha256', hexOf(d), 'link');
const layerFile = (repo: string, d: string) => repoFile(repo, '_layers', 'sha256', hexOf(d), 'link');

interface Pushed {
  repo: string;
  ref: string;
  digest: string;
  blobs: string[];
  /** Child manifests (of an index), pulled by digest. */
  children?: Pushed[];
}

async function pushImage(
  w: Wharf,
  repo: string,
  seed: string,
  ref?: string,
  extra: Record<string, unknown> = {},
): Promise<Pushed> {
  const img = await makeImage(w.url, repo, seed);
  const body = JSON.stringify({ ...img.manifest, ...extra });
  const digest = sha256(body);
  const r = await pushManifest(w.url, repo, ref ?? digest, body, OCI_MANIFEST);
  await r.arrayBuffer();
  assert.equal(r.status, 201, `push ${repo}:${ref ?? digest}`);
  return { repo, ref: ref ?? digest, digest, blobs: [img.config, img.layer] };
}

async function pushIndex(w: Wharf, repo: string, tag: string, children: Pushed[]): Promise<Pushed> {
  const sizes = await Promise.all(
    children.map(
      async (c) =>
        (
          await (
            await fetch(`${w.url}/v2/${repo}/manifests/${c.digest}`, { headers: { Accept: OCI_MANIFEST } })
          ).arrayBuffer()
        ).byteLength,
    ),
  );
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((c, i) => ({
      mediaType: OCI_MANIFEST,
      digest: c.digest,
      size: sizes[i],
      platform: { architecture: ['amd64', 'arm64'][i], os: 'linux' },
    })),
  });
  const r = await pushManifest(w.url, repo, tag, body, OCI_INDEX);
  await r.arrayBuffer();
  assert.equal(r.status, 201);
  return { repo, ref: tag, digest: sha256(body), blobs: [], children };
}

/** Pulls the image (by its ref, children by digest): every manifest and blob answers 200 with the right digest. */
async function assertPulls(w: Wharf, img: Pushed): Promise<void> {
  const r = await fetch(`${w.url}/v2/${img.repo}/manifests/${img.ref}`, {
    headers: { Accept: `${OCI_MANIFEST}, ${OCI_INDEX}` },
  });
  const body = Buffer.from(await r.arrayBuffer());
  assert.equal(r.status, 200, `${img.repo}:${img.ref}`);
  assert.equal(r.headers.get('docker-content-digest'), img.digest);
  assert.equal(sha256(body), img.digest);
  for (const b of img.blobs) {
    const br = await fetch(`${w.url}/v2/${img.repo}/blobs/${b}`);
    const data = Buffer.from(await br.arrayBuffer());
    assert.equal(br.status, 200, `${img.repo} blob ${b}`);
    assert.equal(sha256(data), b);
  }
  for (const c of img.children ?? []) await assertPulls(w, c);
}

async function status(w: Wharf, path: string, accept = OCI_MANIFEST): Promise<number> {
  const r = await fetch(`${w.url}${path}`, { headers: { Accept: accept } });
  await r.arrayBuffer();
  return r.status;
}

describe('garbage-collect: what is removed, what stays', () => {
  let w: Wharf;
  let kept: Pushed[];
  let untagged: Pushed;
  let gone: Pushed;
  let orphan: string;
  before(async () => {
    w = await startWharf();
    const tagged = await pushImage(w, 'gc/app', 'tagged', 'v1');
    untagged = await pushImage(w, 'gc/app', 'untagged');
    orphan = await pushBlob(w.url, 'gc/app', 'an orphan blob nobody references');
    const amd = await pushImage(w, 'gc/multi', 'amd64');
    const arm = await pushImage(w, 'gc/multi', 'arm64');
    const index = await pushIndex(w, 'gc/multi', 'latest', [amd, arm]);
    const signed = await pushImage(w, 'gc/signed', 'signed', 'v1');
    const signedBody = await (
      await fetch(`${w.url}/v2/gc/signed/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })
    ).arrayBuffer();
    const referrer = await pushImage(w, 'gc/signed', 'signature', undefined, {
      artifactType: 'application/vnd.example.signature',
      subject: { mediaType: OCI_MANIFEST, digest: signed.digest, size: signedBody.byteLength },
    });
    gone = await pushImage(w, 'gc/gone', 'only-untagged');
    kept = [tagged, index, signed, referrer];
  });
  after(async () => {
    await w?.cleanup();
  });

  test('with the default grace period (1h) nothing just pushed is removed', async () => {
    const before = files(w.dataDir);
    const run = await gc(w, '--delete-untagged');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /removed 0 manifests, 0 blobs \(0 B, 0 bytes\), 0 repositories/);
    assert.deepEqual(files(w.dataDir), before);
  });

  test('--dry-run --grace 0s reports the untagged manifests, their blobs, the orphan and the emptied repository; changes nothing', async () => {
    const before = files(w.dataDir);
    const run = await gc(w, '--dry-run', '--delete-untagged', '--grace', '0s');
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(files(w.dataDir), before);
    assert.deepEqual(removed(run, 'manifest'), [`gc/app@${untagged.digest}`, `gc/gone@${gone.digest}`].sort());
    assert.deepEqual(
      removed(run, 'blob'),
      [untagged.digest, ...untagged.blobs, gone.digest, ...gone.blobs, orphan].sort(),
    );
    assert.deepEqual(removed(run, 'repository'), ['gc/gone']);
    assert.match(run.stdout, /dry run, nothing changed: would remove 2 manifests, 7 blobs/);
    assert.equal(run.stdout.includes('\r'), false, 'no progress display when stdout is not a terminal');
  });

  test('the real run removes exactly that; every kept image still pulls; the emptied repository is gone', async () => {
    const before = files(w.dataDir);
    const run = await gc(w, '--delete-untagged', '--grace', '0s');
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /removed 2 manifests, 7 blobs \([\d.]+ \w+, \d+ bytes\), 1 repository; 5 _layers links removed; took [\d.]+ s/,
    );
    const after = files(w.dataDir);
    const expectedGone = [
      ...[untagged.digest, ...untagged.blobs, gone.digest, ...gone.blobs, orphan].map(blobFile),
      revisionFile('gc/app', untagged.digest),
      ...[...untagged.blobs, orphan].map((d) => layerFile('gc/app', d)),
      ...before.filter((f) => f.startsWith(repoFile('gc/gone') + '/')),
    ].sort();
    assert.deepEqual(before.filter((f) => !after.includes(f)).sort(), expectedGone);
    assert.deepEqual(
      after.filter((f) => !before.includes(f)),
      [],
      'nothing new (no parked copies left behind)',
    );
    assert.equal(existsSync(join(w.dataDir, repoFile('gc/gone'))), false);

    for (const img of kept) await assertPulls(w, img);
    for (const b of [...untagged.blobs, orphan]) assert.equal(await status(w, `/v2/gc/app/blobs/${b}`), 404);
    const catalog = (await (await fetch(`${w.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['gc/app', 'gc/multi', 'gc/signed']);
    const tags = await fetch(`${w.url}/v2/gc/gone/tags/list`);
    assert.equal(tags.status, 404);
    assert.equal(((await tags.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'NAME_UNKNOWN');

    // A restarted server has no cache: removed manifests answer 404, kept ones still pull.
    await w.stop();
    w = await startWharf({ dir: w.dir });
    assert.equal(await status(w, `/v2/gc/app/manifests/${untagged.digest}`), 404);
    assert.equal(await status(w, `/v2/gc/gone/manifests/${gone.digest}`), 404);
    for (const img of kept) await assertPulls(w, img);
    const again = await gc(w, '--delete-untagged', '--grace', '0s');
    assert.match(again.stdout, /removed 0 manifests, 0 blobs/);
  });

  test('errors exit non-zero with a clear message', async () => {
    const bad = await gc(w, '--grace', 'soon');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--grace: not a duration: "soon"/);
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
    const missing = await new Promise<Run>((resolve) => {
      const p = spawn(process.execPath, [MAIN, 'garbage-collect', join(w.dir, 'nope.yml')], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      p.stderr.on('data', (d) => (stderr += d));
      p.once('close', (code) => resolve({ code, stdout: '', stderr }));
    });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /wharf garbage-collect: invalid configuration .*nope\.yml/);
  });
});

describe('garbage-collect: temporary files of interrupted writes', () => {
  let w: Wharf;
  before(async () => {
    w = await startWharf();
    await pushImage(w, 'gc/tmp', 'tmp', 'v1');
  });
  after(async () => {
    await w?.cleanup();
  });

  test('those older than the grace period are reported by a dry run, then removed; younger ones and real files stay', async () => {
    // What a crash between writing a link (or a manifest) and renaming it into place leaves behind.
    const tagDir = join(w.dataDir, repoFile('gc/tmp', '_manifests', 'tags', 'v1', 'current'));
    const stale = join(tagDir, 'link.tmp-0123456789ab');
    const young = join(tagDir, 'link.tmp-ba9876543210');
    const lookalike = join(tagDir, 'link.tmp-notours');
    for (const f of [stale, young, lookalike]) writeFileSync(f, 'sha256:');
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(stale, twoHoursAgo, twoHoursAgo);
    utimesSync(lookalike, twoHoursAgo, twoHoursAgo);
    const relStale = `/${relative(w.dataDir, stale).split('\\').join('/')}`;

    const dry = await gc(w, '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(
      dry.stdout,
      new RegExp(`^would remove temporary file ${relStale.replaceAll('.', '\\.')} \\(an interrupted write\\)$`, 'm'),
    );
    assert.ok(existsSync(stale), 'a dry run removes nothing');

    // Even without a grace period a write under way keeps its temporary file (removing it made the write's rename
    // fail: a 500 for a push racing `--grace 0s`); only those untouched for 10 minutes are interrupted writes.
    const zero = await gc(w, '--grace', '0s', '--dry-run');
    assert.equal(zero.code, 0, zero.stderr);
    assert.doesNotMatch(zero.stdout, /link\.tmp-ba9876543210/);
    assert.match(zero.stdout, /link\.tmp-0123456789ab/);

    const run = await gc(w);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^removed temporary file .*link\.tmp-0123456789ab/m);
    assert.match(run.stdout, /, 1 temporary file;/);
    assert.ok(!existsSync(stale));
    assert.ok(existsSync(young), 'younger than the grace period: a write may still be under way');
    assert.ok(existsSync(lookalike), 'not a name wharf writes');
    assert.equal(
      (await fetch(`${w.url}/v2/gc/tmp/manifests/v1`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })).status,
      200,
    );
  });
});

describe('garbage-collect while pushes continue', () => {
  let w: Wharf;
  before(async () => {
    w = await startWharf();
  });
  after(async () => {
    await w?.cleanup();
  });

  test('every image whose push succeeded pulls completely after several --grace 0s runs', async (t) => {
    const pushed: Pushed[] = [];
    let refused = 0;
    let stop = false;
    /** Pushes fresh images (and an orphan blob each time, as garbage) until told to stop, at most 200 per worker. */
    const pusher = async (worker: number) => {
      for (let i = 0; i < 200 && !stop; i++) {
        const repo = `load/r${(worker + i) % 3}`;
        const seed = `w${worker}-i${i}-${Math.random()}`;
        await pushBlob(w.url, repo, `orphan-${seed}`);
        const tag = `t${worker}-${i}`;
        // With --grace 0s, blobs uploaded before a run started are fair game until a manifest references them;
        // the server then refuses the manifest (400 MANIFEST_BLOB_UNKNOWN) and the client pushes again, as docker
        // does. The pause between blobs and manifest widens that window so that the runs meet it.
        for (let attempt = 0; attempt < 3; attempt++) {
          const img = await makeImage(w.url, repo, seed);
          await new Promise((r) => setTimeout(r, Math.random() * 200));
          const body = JSON.stringify(img.manifest);
          const r = await pushManifest(w.url, repo, tag, body, OCI_MANIFEST);
          await r.arrayBuffer();
          if (r.status === 201) {
            pushed.push({ repo, ref: tag, digest: sha256(body), blobs: [img.config, img.layer] });
            break;
          }
          assert.equal(r.status, 400);
          refused++;
        }
      }
    };
    const pushers = [pusher(0), pusher(1), pusher(2), pusher(3)];
    const runs: Run[] = [];
    try {
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 3; i++) {
        runs.push(await gc(w, ...(i % 2 === 1 ? ['--delete-untagged'] : []), '--grace', '0s'));
        assert.equal(runs[i].code, 0, runs[i].stderr);
      }
    } finally {
      stop = true;
      await Promise.all(pushers);
    }
    const blobsRemoved = runs.reduce((n, r) => n + removed(r, 'blob').length, 0);
    t.diagnostic(
      `${pushed.length} images pushed (${refused} manifest pushes refused), ${blobsRemoved} blobs collected; runs took ${runs.map(tookSeconds).join(', ')} s`,
    );
    assert.ok(pushed.length > 10, 'the pushers made progress');
    assert.ok(blobsRemoved > 0, 'the runs collected the orphans');
    for (const img of pushed) await assertPulls(w, img);
    await w.stop();
    w = await startWharf({ dir: w.dir });
    for (const img of pushed) await assertPulls(w, img);
  });
});
