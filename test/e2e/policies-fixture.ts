/**
 * The retention scenario shared by the filesystem and S3 tests: repository `ci/app` with 30 tagged builds
 * (every fifth a linux/amd64 + linux/arm64 index), all on one shared base layer, OCI referrers (SBOMs) and
 * cosign-style `sha256-<hex>.sig` signature tags, `v*` and `release-*` tags, untagged manifests; and repository
 * `other/lib` (no rule) sharing a layer with build-1. The fixture keeps its own books of what each item holds,
 * so the expected removals are computed here, independently of wharf's code.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { MAIN } from './harness.js';
import { gzipSync } from 'node:zlib';
import { tar } from './ocilayout.js';

export const MT = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  empty: 'application/vnd.oci.empty.v1+json',
  sbom: 'application/vnd.example.sbom.v1+json',
  cosign: 'application/vnd.dev.cosign.simplesigning.v1+json',
} as const;

/** The rule under test; `deleteuntagged` differs by storage (link times can be set on a filesystem only). */
export function policiesYaml(deleteUntagged: string): string {
  return `policies:
  - repositories: ["ci/**"]
    immutable: ["v*", "release-*"]
    keep:
      - recent: 10
      - tags: ["v*"]
    deleteuntagged: ${deleteUntagged}
`;
}

export interface Blob {
  digest: string;
  size: number;
  bytes: Buffer;
  mediaType: string;
}

/** A manifest pushed by the fixture and what it references (its own blob included). */
export interface Item {
  repo: string;
  /** The tag it is pushed under, or null (pushed by digest). */
  tag: string | null;
  manifest: Blob;
  /** Blobs it references (config, layers) and, for an index, its children. */
  blobs: Blob[];
  children: Item[];
  /** Whether the rule keeps it (decided by the fixture's own reading of the rule). */
  kept: boolean;
  /** Which push wave: 0 old, 1 new (S3 separates the waves in time). */
  wave: number;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = (bytes: Buffer, mediaType: string): Blob => ({ digest: sha(bytes), size: bytes.length, bytes, mediaType });
const desc = (b: Blob, extra: Record<string, unknown> = {}) => ({
  mediaType: b.mediaType,
  digest: b.digest,
  size: b.size,
  ...extra,
});

function layer(text: string): { blob: Blob; diffId: string } {
  const raw = tar({ [`etc/${sha(Buffer.from(text)).slice(7, 19)}.txt`]: `${text}\n`.repeat(40) });
  return { blob: blob(gzipSync(raw), MT.layer), diffId: sha(raw) };
}

export class Fixture {
  readonly items: Item[] = [];
  readonly base = layer('shared base layer');
  private readonly empty = blob(Buffer.from('{}'), MT.empty);

  image(
    repo: string,
    tag: string | null,
    seed: string,
    kept: boolean,
    wave: number,
    arch = 'amd64',
    own = layer(`own ${seed} ${arch}`),
  ): Item {
    const layers = [this.base, own];
    const config = blob(
      Buffer.from(
        JSON.stringify({
          architecture: arch,
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
          config: { Labels: { seed } },
        }),
      ),
      MT.config,
    );
    const body = {
      schemaVersion: 2,
      mediaType: MT.manifest,
      config: desc(config),
      layers: layers.map((l) => desc(l.blob)),
    };
    return this.add({
      repo,
      tag,
      manifest: blob(Buffer.from(JSON.stringify(body)), MT.manifest),
      blobs: [config, ...layers.map((l) => l.blob)],
      children: [],
      kept,
      wave,
    });
  }

  index(repo: string, tag: string, seed: string, kept: boolean, wave: number): Item {
    const children = ['amd64', 'arm64'].map((arch) => this.image(repo, null, seed, kept, wave, arch));
    const body = {
      schemaVersion: 2,
      mediaType: MT.index,
      manifests: children.map((c, i) =>
        desc(c.manifest, { platform: { os: 'linux', architecture: ['amd64', 'arm64'][i] } }),
      ),
    };
    return this.add({
      repo,
      tag,
      manifest: blob(Buffer.from(JSON.stringify(body)), MT.index),
      blobs: [],
      children,
      kept,
      wave,
    });
  }

  /** An OCI 1.1 referrer (an SBOM artifact) of `subject`, untagged. */
  referrer(subject: Item, kept: boolean): Item {
    const content = blob(Buffer.from(JSON.stringify({ sbom: subject.manifest.digest })), MT.sbom);
    const body = {
      schemaVersion: 2,
      mediaType: MT.manifest,
      artifactType: MT.sbom,
      config: desc(this.empty),
      layers: [desc(content)],
      subject: desc(subject.manifest),
    };
    return this.add({
      repo: subject.repo,
      tag: null,
      manifest: blob(Buffer.from(JSON.stringify(body)), MT.manifest),
      blobs: [this.empty, content],
      children: [],
      kept,
      wave: subject.wave,
    });
  }

  /** A cosign-style signature under the tag `sha256-<hex>.sig` (no subject field: the tag names the image). */
  signature(subject: Item, kept: boolean): Item {
    const payload = blob(
      Buffer.from(JSON.stringify({ critical: { image: { 'docker-manifest-digest': subject.manifest.digest } } })),
      MT.cosign,
    );
    const config = blob(
      Buffer.from(
        JSON.stringify({
          architecture: '',
          os: '',
          rootfs: { type: 'layers', diff_ids: [payload.digest] },
          config: {},
        }),
      ),
      MT.config,
    );
    const body = { schemaVersion: 2, mediaType: MT.manifest, config: desc(config), layers: [desc(payload)] };
    const tag = `${subject.manifest.digest.replace(':', '-')}.sig`;
    return this.add({
      repo: subject.repo,
      tag,
      manifest: blob(Buffer.from(JSON.stringify(body)), MT.manifest),
      blobs: [config, payload],
      children: [],
      kept,
      wave: subject.wave,
    });
  }

  private add(item: Item): Item {
    this.items.push(item);
    return item;
  }

  /** Every manifest (children of indexes included) with its repository. */
  all(): Item[] {
    const out: Item[] = [];
    const walk = (i: Item) => {
      out.push(i);
      i.children.forEach(walk);
    };
    this.items.forEach(walk);
    return [...new Set(out)];
  }

  /** `repo@digest` of every manifest the rule removes. */
  expectedDeleted(): string[] {
    return [
      ...new Set(
        this.all()
          .filter((i) => !i.kept)
          .map((i) => `${i.repo}@${i.manifest.digest}`),
      ),
    ].sort();
  }

  /** Blobs (manifests included) that only removed manifests reference, with their sizes. */
  expectedFreed(): Map<string, number> {
    const kept = new Set<string>();
    const gone = new Map<string, number>();
    for (const i of this.all()) for (const b of [i.manifest, ...i.blobs]) if (i.kept) kept.add(b.digest);
    for (const i of this.all())
      for (const b of [i.manifest, ...i.blobs]) if (!i.kept && !kept.has(b.digest)) gone.set(b.digest, b.size);
    return gone;
  }
}

export interface Scenario {
  fixture: Fixture;
  /** Tags the rule untags, as `repo:tag`. */
  untag: string[];
  /** Tags that stay in ci/app. */
  keptTags: string[];
  /** Old and young untagged manifests (the young one only where link times can be set). */
  orphanOld: Item;
  orphanYoung: Item | null;
  /** Referrers that stay, with their subjects. */
  keptReferrers: Item[];
}

/**
 * Builds the scenario. Wave 0 is old (builds 1-20, the release and v tags, the old orphan), wave 1 new (builds
 * 21-30, the young orphan). Expected: builds 1-20 untagged, build-2's manifest kept by `v1.0` pointing at it.
 */
export function scenario(
  withYoungOrphan: boolean,
): Scenario & { builds: Item[]; sharedWithOther: Item; pushOrder: Array<{ item: Item; tag?: string }> } {
  const f = new Fixture();
  const builds: Item[] = [];
  for (let n = 1; n <= 30; n++) {
    const kept = n > 20 || n === 2;
    const wave = n > 20 ? 1 : 0;
    builds.push(
      n % 5 === 0
        ? f.index('ci/app', `build-${n}`, `build-${n}`, kept, wave)
        : f.image('ci/app', `build-${n}`, `build-${n}`, kept, wave),
    );
  }
  // other/lib (no rule) holds build-1's own layer too: it must not be freed.
  // The same text gives the same layer: build-1's own.
  const sharedWithOther = f.image('other/lib', 'stable', 'lib', true, 0, 'amd64', layer('own build-1 amd64'));
  const release = f.image('ci/app', 'release-1', 'release-1', true, 0);
  f.image('ci/app', 'v2.0', 'v2.0', true, 0);
  const keptReferrers = [f.referrer(builds[24], true), f.referrer(builds[27], true)];
  f.referrer(builds[4], false);
  f.signature(builds[2], false);
  const sig29 = f.signature(builds[28], true);
  const orphanOld = f.image('ci/app', null, 'orphan-old', false, 0);
  const orphanYoung = withYoungOrphan ? f.image('ci/app', null, 'orphan-young', true, 1) : null;
  const untag = [
    ...builds.slice(0, 20).map((b) => `ci/app:${b.tag}`),
    `ci/app:${f.items.find((i) => i.tag?.startsWith(builds[2].manifest.digest.replace(':', '-')))!.tag}`,
  ].sort();
  const keptTags = [...builds.slice(20).map((b) => b.tag!), 'v1.0', 'v2.0', 'release-1', sig29.tag!].sort();
  // Wave by wave, children and subjects before what refers to them; v1.0 names build-2's manifest.
  const order: Array<{ item: Item; tag?: string }> = f.items.map((item) => ({ item }));
  order.splice(
    order.findIndex((o) => o.item === release),
    0,
    { item: builds[1], tag: 'v1.0' },
  );
  const pushOrder = [...order.filter((o) => o.item.wave === 0), ...order.filter((o) => o.item.wave === 1)];
  return { fixture: f, untag, keptTags, orphanOld, orphanYoung, keptReferrers, builds, sharedWithOther, pushOrder };
}

/** Pushes one item (children, blobs first) over HTTP; `tag` overrides the item's own. */
export async function pushItem(url: string, item: Item, tag = item.tag): Promise<void> {
  for (const c of item.children) await pushItem(url, c);
  for (const b of item.blobs) {
    const r = await fetch(`${url}/v2/${item.repo}/blobs/uploads/?digest=${b.digest}`, {
      method: 'POST',
      body: new Uint8Array(b.bytes),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    await r.arrayBuffer();
    if (r.status !== 201) throw new Error(`blob push ${item.repo} ${b.digest}: ${r.status}`);
  }
  const r = await fetch(`${url}/v2/${item.repo}/manifests/${tag ?? item.manifest.digest}`, {
    method: 'PUT',
    body: new Uint8Array(item.manifest.bytes),
    headers: { 'Content-Type': item.manifest.mediaType },
  });
  await r.arrayBuffer();
  if (r.status !== 201) throw new Error(`manifest push ${item.repo}:${tag ?? item.manifest.digest}: ${r.status}`);
}

/** Tags of a repository as the registry lists them, sorted. */
export async function listTags(url: string, repo: string): Promise<string[]> {
  const r = await fetch(`${url}/v2/${repo}/tags/list?n=1000`);
  if (r.status !== 200) return [];
  return (((await r.json()) as { tags: string[] | null }).tags ?? []).sort();
}

/** GET a manifest and each blob it references (recursively for indexes): true when all answer 200 with the right digest. */
export async function complete(url: string, item: Item): Promise<boolean> {
  const r = await fetch(`${url}/v2/${item.repo}/manifests/${item.manifest.digest}`, {
    headers: { Accept: `${MT.manifest}, ${MT.index}` },
  });
  if (r.status !== 200 || sha(Buffer.from(await r.arrayBuffer())) !== item.manifest.digest) return false;
  for (const b of item.blobs) {
    const br = await fetch(`${url}/v2/${item.repo}/blobs/${b.digest}`);
    if (br.status !== 200 || sha(Buffer.from(await br.arrayBuffer())) !== b.digest) return false;
  }
  for (const c of item.children) if (!(await complete(url, c))) return false;
  return true;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `wharf <args> <dir>/config.yml` (the test server's config) to completion. */
export function wharfCli(dir: string, ...args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  const proc = spawn(process.execPath, [MAIN, ...args, join(dir, 'config.yml')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** What `wharf policies plan --json` prints. */
export interface PlanJson {
  repositories: Array<{
    repository: string;
    rule: number;
    untag: Array<{ tag: string }>;
    deleteManifests: Array<{ digest: string }>;
  }>;
  blobs: Array<{ digest: string; size: number }>;
  bytesFreed: number;
}

/** `garbage-collect --policies` (run) removed exactly what the scenario and the plan said, and freed its bytes. */
export async function assertRunMatchesPlan(url: string, run: Run, s: Scenario, plan: PlanJson): Promise<void> {
  assert.equal(run.code, 0, run.stderr);
  const lines = (re: RegExp) => [...run.stdout.matchAll(re)].map((m) => m[1]).sort();
  assert.deepEqual(lines(/^untagged (\S+) /gm), s.untag);
  assert.deepEqual(lines(/^removed manifest (\S+)$/gm), s.fixture.expectedDeleted());
  assert.deepEqual(lines(/^removed blob (\S+) /gm), plan.blobs.map((b) => b.digest).sort());
  assert.equal(Number(/ (\d+) bytes\), /.exec(run.stdout)?.[1]), plan.bytesFreed);
  assert.deepEqual(await listTags(url, 'ci/app'), s.keptTags);
}
