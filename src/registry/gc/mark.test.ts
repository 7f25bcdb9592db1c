/** Mark's decisions over hand-built snapshots: no storage, no driver. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import type { ParsedManifest } from '../../oci/manifest.js';
import { MT } from '../../oci/mediatypes.js';
import { parseDigest, type Digest } from '../../oci/names.js';
import { keptRevisions, markBlobs, recheckRevisions, revisionsToRemove, type MarkPolicy } from './mark.js';
import { Findings, type LoadedManifest, type RepoScan, type Snapshot } from './model.js';

const NOW = 1_000_000_000;
const HOUR = 3_600_000;
const OLD = NOW - 2 * HOUR;
const policy = (p: Partial<MarkPolicy> = {}): MarkPolicy => ({ cutoff: NOW - HOUR, deleteUntagged: false, ...p });

function digest(seed: string, algorithm: 'sha256' | 'sha384' | 'sha512' = 'sha256'): Digest {
  return parseDigest(`${algorithm}:${createHash(algorithm).update(seed).digest('hex')}`)!;
}

const desc = (d: Digest, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip') => ({
  mediaType,
  digest: d.value,
  size: 1,
});

function image(config: Digest, layers: Digest[], subject?: Digest): ParsedManifest {
  const body = {
    schemaVersion: 2 as const,
    mediaType: MT.ociManifest,
    config: desc(config, 'application/vnd.oci.image.config.v1+json'),
    layers: layers.map((l) => desc(l)),
    ...(subject ? { subject: desc(subject, MT.ociManifest) } : {}),
  };
  return { kind: 'image', mediaType: MT.ociManifest, body };
}

function index(children: Digest[]): ParsedManifest {
  return {
    kind: 'index',
    mediaType: MT.ociIndex,
    body: { schemaVersion: 2, mediaType: MT.ociIndex, manifests: children.map((c) => desc(c, MT.ociManifest)) },
  };
}

/** A repository: revisions (digest -> link time, parked), tags (tag -> digest). */
function repo(name: string, revisions: Array<[Digest, number, boolean?]>, tags: Record<string, Digest> = {}): RepoScan {
  return {
    name,
    revisions: new Map(
      revisions.map(([d, modTime, parked]) => [d.value, { digest: d, modTime, parked: parked ?? false }]),
    ),
    tags: new Map(Object.entries(tags).map(([t, d]) => [t, d.value])),
    hasManifests: true,
  };
}

function snapshot(repos: RepoScan[], manifests: Array<[Digest, LoadedManifest]>): Snapshot {
  return { repos, manifests: new Map(manifests.map(([d, m]) => [d.value, m])) };
}

/** An image with its own config and one layer. */
function img(seed: string, subject?: Digest, algorithm: 'sha256' | 'sha384' | 'sha512' = 'sha256') {
  const config = digest(`config-${seed}`);
  const layer = digest(`layer-${seed}`, algorithm);
  const manifest = image(config, [layer], subject);
  return { d: digest(`manifest-${seed}`, algorithm), config, layer, manifest };
}

const removedNames = (s: Snapshot, p: MarkPolicy, f = new Findings()) =>
  revisionsToRemove(s, p, f)
    .map((r) => `${r.repo}@${r.rev.digest.value}`)
    .sort();

describe('gc mark: which revisions stay', () => {
  test('without deleteUntagged or a removal request every revision stays, tagged or not', () => {
    const a = img('a');
    const b = img('b');
    const s = snapshot(
      [
        repo(
          'r',
          [
            [a.d, OLD],
            [b.d, OLD],
          ],
          { v1: a.d },
        ),
      ],
      [
        [a.d, a.manifest],
        [b.d, b.manifest],
      ],
    );
    assert.deepEqual(removedNames(s, policy()), []);
  });

  test('deleteUntagged keeps a tagged index and its children transitively (an index of an index), removes other untagged manifests', () => {
    const amd = img('amd64');
    const arm = img('arm64');
    const inner = digest('inner-index');
    const outer = digest('outer-index');
    const stray = img('stray');
    const s = snapshot(
      [
        repo(
          'r',
          [
            [amd.d, OLD],
            [arm.d, OLD],
            [inner, OLD],
            [outer, OLD],
            [stray.d, OLD],
          ],
          { latest: outer },
        ),
      ],
      [
        [amd.d, amd.manifest],
        [arm.d, arm.manifest],
        [inner, index([amd.d, arm.d])],
        [outer, index([inner])],
        [stray.d, stray.manifest],
      ],
    );
    assert.deepEqual(removedNames(s, policy({ deleteUntagged: true })), [`r@${stray.d.value}`]);
  });

  test('referrers of kept manifests stay (a signature of a signature too); referrers of removed ones go', () => {
    const base = img('base');
    const sig = img('sig', base.d);
    const sigOfSig = img('sig-of-sig', sig.d);
    const old = img('old');
    const oldSig = img('old-sig', old.d);
    const s = snapshot(
      [
        repo(
          'r',
          [
            [base.d, OLD],
            [sig.d, OLD],
            [sigOfSig.d, OLD],
            [old.d, OLD],
            [oldSig.d, OLD],
          ],
          { v1: base.d },
        ),
      ],
      [base, sig, sigOfSig, old, oldSig].map((x) => [x.d, x.manifest] as [Digest, LoadedManifest]),
    );
    assert.deepEqual(
      removedNames(s, policy({ deleteUntagged: true })),
      [`r@${old.d.value}`, `r@${oldSig.d.value}`].sort(),
    );
  });

  test('a revision younger than the grace period stays; a parked one does not count as young, whatever its time', () => {
    const young = img('young');
    const parked = img('parked');
    const s = snapshot(
      [
        repo('r', [
          [young.d, NOW - 1000],
          [parked.d, NOW - 1000, true],
        ]),
      ],
      [
        [young.d, young.manifest],
        [parked.d, parked.manifest],
      ],
    );
    assert.deepEqual(removedNames(s, policy({ deleteUntagged: true })), [`r@${parked.d.value}`]);
  });

  test('sha384 and sha512 revisions are kept by their tags and removed when untagged, like sha256 ones', () => {
    const a = img('a384', undefined, 'sha384');
    const b = img('b512', undefined, 'sha512');
    const c = img('c512', undefined, 'sha512');
    const s = snapshot(
      [
        repo(
          'r',
          [
            [a.d, OLD],
            [b.d, OLD],
            [c.d, OLD],
          ],
          { v384: a.d, v512: b.d },
        ),
      ],
      [
        [a.d, a.manifest],
        [b.d, b.manifest],
        [c.d, c.manifest],
      ],
    );
    assert.deepEqual(removedNames(s, policy({ deleteUntagged: true })), [`r@${c.d.value}`]);
  });

  test('a tag pointing at a manifest that does not exist keeps nothing, warns of nothing and does not blind the run', () => {
    const gone = digest('gone');
    const stray = img('stray');
    const f = new Findings();
    const s = snapshot(
      [repo('r', [[stray.d, OLD]], { dangling: gone })],
      [
        [gone, 'missing'],
        [stray.d, stray.manifest],
      ],
    );
    assert.deepEqual(removedNames(s, policy({ deleteUntagged: true }), f), [`r@${stray.d.value}`]);
    assert.equal(f.blind, false);
    assert.deepEqual(f.warnings, []);
  });

  test('a removal request removes only the requested manifests, and not one a tag still reaches', () => {
    const a = img('a');
    const b = img('b');
    const c = img('c');
    const s = snapshot(
      [
        repo(
          'r',
          [
            [a.d, OLD],
            [b.d, OLD],
            [c.d, OLD],
          ],
          { v1: a.d },
        ),
      ],
      [
        [a.d, a.manifest],
        [b.d, b.manifest],
        [c.d, c.manifest],
      ],
    );
    const removeManifests = new Map([['r', new Set([a.d.value, b.d.value])]]);
    assert.deepEqual(removedNames(s, policy({ removeManifests })), [`r@${b.d.value}`]);
    assert.deepEqual(
      removedNames(s, policy({ removeManifests: new Map([['other', new Set([b.d.value])]]) })),
      [],
      'another repository is unaffected',
    );
  });

  test('a kept manifest that does not parse blinds the run; a removed one that does not parse does not', () => {
    const bad = digest('bad');
    const f1 = new Findings();
    keptRevisions(
      repo('r', [[bad, OLD]], { v1: bad }),
      snapshot([], [[bad, 'unparseable']]),
      policy({ deleteUntagged: true }),
      f1,
    );
    assert.equal(f1.blind, true);
    assert.match(f1.warnings.join('\n'), /does not parse/);
    const f2 = new Findings();
    keptRevisions(repo('r', [[bad, OLD]]), snapshot([], [[bad, 'unparseable']]), policy({ deleteUntagged: true }), f2);
    assert.equal(f2.blind, false);
  });
});

describe('gc mark: which blobs are reachable', () => {
  test('marks manifests, configs and layers of kept revisions and index children; not those of removed revisions', () => {
    const kept = img('kept');
    const child = img('child');
    const idx = digest('idx');
    const gone = img('gone');
    const s = snapshot(
      [
        repo('r', [
          [kept.d, OLD],
          [idx, OLD],
          [gone.d, OLD],
        ]),
      ],
      [
        [kept.d, kept.manifest],
        [idx, index([child.d])],
        [child.d, child.manifest],
        [gone.d, gone.manifest],
      ],
    );
    const marked = markBlobs(s, new Set([`r@${gone.d.value}`]), new Findings());
    for (const d of [kept.d, kept.config, kept.layer, idx, child.d, child.config, child.layer])
      assert.ok(marked.has(d.value), d.value);
    for (const d of [gone.d, gone.config, gone.layer]) assert.equal(marked.has(d.value), false, d.value);
  });

  test('a blob shared with a kept manifest of another repository stays marked', () => {
    const shared = digest('shared layer');
    const a = digest('a');
    const b = digest('b');
    const s = snapshot(
      [repo('one', [[a, OLD]]), repo('two', [[b, OLD]])],
      [
        [a, image(digest('ca'), [shared])],
        [b, image(digest('cb'), [shared])],
      ],
    );
    assert.ok(markBlobs(s, new Set([`one@${a.value}`]), new Findings()).has(shared.value));
    assert.equal(markBlobs(s, new Set([`one@${a.value}`, `two@${b.value}`]), new Findings()).has(shared.value), false);
  });

  test('a sha512 layer of a sha384 manifest is marked', () => {
    const layer = digest('big layer', 'sha512');
    const m = digest('m', 'sha384');
    const marked = markBlobs(
      snapshot([repo('r', [[m, OLD]])], [[m, image(digest('c'), [layer])]]),
      new Set(),
      new Findings(),
    );
    assert.ok(marked.has(layer.value));
    assert.ok(marked.has(m.value));
  });

  test('a kept revision whose manifest is missing is warned about; one that does not parse blinds the run', () => {
    const missing = digest('missing');
    const f = new Findings();
    markBlobs(snapshot([repo('r', [[missing, OLD]])], [[missing, 'missing']]), new Set(), f);
    assert.equal(f.blind, false);
    assert.match(f.warnings.join('\n'), /cannot be read/);
    const bad = digest('bad');
    const g = new Findings();
    markBlobs(snapshot([repo('r', [[bad, OLD]])], [[bad, 'unparseable']]), new Set(), g);
    assert.equal(g.blind, true);
  });
});

describe('gc mark: the second scan', () => {
  test('a parked revision tagged meanwhile goes back; one still untagged is removed; an unparked one is neither', () => {
    const tagged = img('tagged');
    const still = img('still');
    const other = img('other');
    const rescan = snapshot(
      [
        repo(
          'r',
          [
            [tagged.d, OLD, true],
            [still.d, OLD, true],
            [other.d, OLD],
          ],
          { late: tagged.d },
        ),
      ],
      [tagged, still, other].map((x) => [x.d, x.manifest] as [Digest, LoadedManifest]),
    );
    const removed = new Set([`r@${tagged.d.value}`, `r@${still.d.value}`, `r@${other.d.value}`]);
    const r = recheckRevisions(rescan, removed, policy({ deleteUntagged: true }), new Findings());
    assert.deepEqual(
      r.restore.map((x) => x.rev.digest.value),
      [tagged.d.value],
    );
    assert.deepEqual(
      r.remove.map((x) => x.rev.digest.value),
      [still.d.value],
    );
  });
});
