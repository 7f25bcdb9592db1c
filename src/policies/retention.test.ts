import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../config/load.js';
import { PolicySet, tagMatcher, type CompiledRule } from './match.js';
import {
  byRecency,
  referrerTagSubject,
  selectRepository,
  selectTags,
  type ManifestNode,
  type TagState,
} from './retention.js';
import type { PoliciesConfig } from './schema.js';

const HOUR = 3_600_000;
const NOW = Date.UTC(2025, 0, 31);
const hex = (n: number) => n.toString(16).padStart(64, '0');
const dg = (n: number) => `sha256:${hex(n)}`;

/** Parses `policies` YAML through the real config schema. */
function policies(yaml: string): PoliciesConfig {
  return parseConfig(`version: 0.1\nstorage:\n  inmemory: {}\npolicies:\n${yaml}`, 'test').config
    .policies as PoliciesConfig;
}

function rule(yaml: string): CompiledRule {
  return new PolicySet(policies(yaml)).ruleFor('ci/app')!;
}

/** build-1 .. build-n pushed one hour apart, build-n the newest. */
function builds(n: number): TagState[] {
  return Array.from({ length: n }, (_, i) => ({
    tag: `build-${i + 1}`,
    digest: dg(i + 1),
    pushedAt: NOW - (n - i) * HOUR,
  }));
}

const names = (ts: TagState[]) => ts.map((t) => t.tag);

describe('tag patterns and rule matching', () => {
  test('tag globs: * is any run of characters, the rest literal', () => {
    assert.ok(tagMatcher('v*').test('v1.2.3'));
    assert.ok(tagMatcher('v*').test('v'));
    assert.ok(!tagMatcher('v*').test('1.0-v'));
    assert.ok(tagMatcher('latest').test('latest'));
    assert.ok(!tagMatcher('latest').test('latest2'));
    assert.ok(tagMatcher('*-rc*').test('1.0-rc2'));
    assert.ok(!tagMatcher('v1.0').test('v1x0'), 'a dot is literal');
  });

  test('first matching rule wins; ** crosses path components, * does not', () => {
    const set = new PolicySet(
      policies(
        `  - repositories: ["ci/*"]\n    immutable: ["v*"]\n  - repositories: ["ci/**", "tools"]\n    immutable: ["stable"]\n`,
      ),
    );
    assert.equal(set.ruleFor('ci/app')!.index, 0);
    assert.equal(set.ruleFor('ci/app/sub')!.index, 1);
    assert.equal(set.ruleFor('tools')!.index, 1);
    assert.equal(set.ruleFor('other'), null);
    assert.deepEqual(set.immutable('ci/app', 'v1'), { rule: 0, pattern: 'v*' });
    assert.equal(set.immutable('ci/app', 'stable'), null, 'only the first matching rule counts');
    assert.deepEqual(set.immutable('ci/app/sub', 'stable'), { rule: 1, pattern: 'stable' });
  });

  test('invalid rules are refused with their key paths', () => {
    assert.throws(
      () =>
        policies(
          `  - repositories: ["\${account}/**"]\n    keep: []\n    deleteuntagged: soon\n    immutable: ["a/b"]\n    keep_last: 3\n`,
        ),
      (err: Error & { problems?: string[] }) => {
        const p = (err.problems ?? []).join('\n');
        assert.match(p, /policies\.0\.repositories\.0: policies apply to no account/);
        assert.match(p, /policies\.0\.keep: keep needs at least one selector/);
        assert.match(p, /policies\.0\.deleteuntagged: not a duration: "soon"/);
        assert.match(p, /policies\.0\.immutable\.0: not a tag pattern: "a\/b"/);
        assert.match(p, /policies\.0: Unrecognized key\(s\) in object: 'keep_last'/);
        return true;
      },
    );
  });

  test('referrer-schema tags name their subject', () => {
    assert.equal(referrerTagSubject(`sha256-${hex(7)}.sig`), dg(7));
    assert.equal(referrerTagSubject(`sha256-${hex(7)}`), dg(7));
    assert.equal(referrerTagSubject('sha256-abc.sig'), null);
    assert.equal(referrerTagSubject('v1.0'), null);
  });
});

describe('selectTags', () => {
  test('keeps the N most recently pushed and the pattern matches; untags the rest, newest first', () => {
    const r = rule(`  - repositories: ["ci/**"]\n    keep:\n      - recent: 10\n      - tags: ["v*", "latest"]\n`);
    const tags = [
      ...builds(30),
      { tag: 'v1.0', digest: dg(100), pushedAt: NOW - 100 * HOUR },
      { tag: 'latest', digest: dg(30), pushedAt: NOW - 200 * HOUR },
    ];
    const sel = selectTags(r, tags, NOW);
    assert.deepEqual(names(sel.keep), [
      'build-30',
      'build-29',
      'build-28',
      'build-27',
      'build-26',
      'build-25',
      'build-24',
      'build-23',
      'build-22',
      'build-21',
      'v1.0',
      'latest',
    ]);
    assert.deepEqual(
      names(sel.untag),
      Array.from({ length: 20 }, (_, i) => `build-${20 - i}`),
    );
  });

  test('recent counts only the tags its own patterns select', () => {
    const r = rule(`  - repositories: ["ci/**"]\n    keep:\n      - tags: ["build-*"]\n        recent: 2\n`);
    const tags = [...builds(5), { tag: 'nightly', digest: dg(50), pushedAt: NOW }];
    const sel = selectTags(r, tags, NOW);
    assert.deepEqual(names(sel.keep), ['build-5', 'build-4']);
    assert.deepEqual(names(sel.untag), ['nightly', 'build-3', 'build-2', 'build-1']);
  });

  test('pushedwithin keeps by age; with recent in the same selector either one keeps', () => {
    const r = rule(`  - repositories: ["ci/**"]\n    keep:\n      - pushedwithin: 3h30m\n        recent: 1\n`);
    // build-10 is 1h old ... build-7 is 4h old.
    const sel = selectTags(r, builds(10), NOW);
    assert.deepEqual(names(sel.keep), ['build-10', 'build-9', 'build-8']);
    const onlyRecent = selectTags(rule(`  - repositories: ["ci/**"]\n    keep:\n      - recent: 0\n`), builds(3), NOW);
    assert.deepEqual(names(onlyRecent.keep), [], 'recent: 0 keeps none (explicitly)');
  });

  test('immutable tags are always kept; a rule without keep untags nothing', () => {
    const r = rule(`  - repositories: ["ci/**"]\n    immutable: ["build-1"]\n    keep:\n      - recent: 1\n`);
    assert.deepEqual(names(selectTags(r, builds(3), NOW).keep), ['build-3', 'build-1']);
    const none = rule(`  - repositories: ["ci/**"]\n    immutable: ["x"]\n`);
    assert.deepEqual(selectTags(none, builds(3), NOW).untag, []);
  });

  test('equal push times (S3 stores seconds) are ordered by tag name, numbers compared as numbers', () => {
    const same = [
      { tag: 'build-9', digest: dg(9), pushedAt: NOW },
      { tag: 'build-10', digest: dg(10), pushedAt: NOW },
      { tag: 'build-11', digest: dg(11), pushedAt: NOW - 1 },
    ];
    assert.deepEqual(names([...same].sort(byRecency)), ['build-10', 'build-9', 'build-11']);
  });
});

describe('selectRepository: what a kept manifest reaches stays', () => {
  const img = (n: number, pushedAt = NOW - 100 * HOUR, subject?: number): ManifestNode => ({
    digest: dg(n),
    pushedAt,
    children: [],
    subject: subject === undefined ? undefined : dg(subject),
  });
  const idx = (n: number, children: number[], pushedAt = NOW - 100 * HOUR): ManifestNode => ({
    digest: dg(n),
    pushedAt,
    children: children.map(dg),
  });
  const keep1 = `  - repositories: ["ci/**"]\n    keep:\n      - tags: ["keep"]\n`;

  test('an untagged index goes with its children and referrers; a kept one keeps them', () => {
    const manifests = [
      idx(1, [11, 12]),
      img(11),
      img(12),
      img(13, undefined, 1),
      idx(2, [21, 12]),
      img(21),
      img(22, undefined, 21),
    ];
    const tags = [
      { tag: 'gone', digest: dg(1), pushedAt: NOW - 100 * HOUR },
      { tag: 'keep', digest: dg(2), pushedAt: NOW - 100 * HOUR },
    ];
    const sel = selectRepository(rule(keep1), tags, manifests, NOW, HOUR);
    assert.deepEqual(names(sel.untag), ['gone']);
    // 12 is shared with the kept index 2; 22 is a referrer of its child 21.
    assert.deepEqual(sel.deleteManifests, [dg(1), dg(11), dg(13)]);
    assert.ok(sel.keptManifests.has(dg(12)) && sel.keptManifests.has(dg(22)));
  });

  test('the subject of a kept (tagged) referrer stays', () => {
    const manifests = [img(1), img(2, undefined, 1)];
    const tags = [
      { tag: 'keep', digest: dg(2), pushedAt: NOW },
      { tag: 'old', digest: dg(1), pushedAt: NOW - 100 * HOUR },
    ];
    const sel = selectRepository(rule(keep1), tags, manifests, NOW, HOUR);
    assert.deepEqual(names(sel.untag), ['old']);
    assert.deepEqual(sel.deleteManifests, []);
  });

  test('deleteuntagged removes old manifests no tag reached; younger ones and the grace period stay', () => {
    const r = rule(`  - repositories: ["ci/**"]\n    deleteuntagged: 48h\n`);
    const manifests = [
      img(1, NOW - 100 * HOUR),
      img(2, NOW - 10 * HOUR),
      img(3, NOW - 100 * HOUR),
      img(4, NOW - 100 * HOUR, 3),
    ];
    const sel = selectRepository(r, [{ tag: 't', digest: dg(3), pushedAt: NOW }], manifests, NOW, HOUR);
    assert.deepEqual(sel.deleteManifests, [dg(1)], 'the referrer 4 of the tagged 3 stays, 2 is younger than 48h');
    const graced = selectRepository(r, [], [img(5, NOW - 30 * 60_000)], NOW, HOUR);
    assert.deepEqual(graced.deleteManifests, [], 'inside the grace period');
  });

  test('without deleteuntagged, manifests that were already untagged stay; those untagged now go', () => {
    const r = rule(keep1);
    const sel = selectRepository(
      r,
      [{ tag: 'drop', digest: dg(2), pushedAt: NOW - 100 * HOUR }],
      [img(1), img(2)],
      NOW,
      HOUR,
    );
    assert.deepEqual(sel.deleteManifests, [dg(2)]);
  });

  test('a tag whose manifest is younger than the grace period waits, so that it and its manifest go together later', () => {
    const r = rule(`  - repositories: ["ci/**"]\n    keep:\n      - recent: 1\n`);
    // old was pushed 20 ms before new, both a moment ago: old is not among the 1 most recent.
    const tags = [
      { tag: 'old', digest: dg(1), pushedAt: NOW - 520 },
      { tag: 'new', digest: dg(2), pushedAt: NOW - 500 },
    ];
    const manifests = [img(1, NOW - 520), img(2, NOW - 500), img(3, NOW - 510, 1)];
    const now = selectRepository(r, tags, manifests, NOW, 1000);
    assert.deepEqual(
      [names(now.keep), names(now.untag), names(now.deferred), now.deleteManifests],
      [['new', 'old'], [], ['old'], []],
    );
    // One grace period later both old and its referrer 3 are old enough: untagged and deleted in the same run.
    const later = selectRepository(r, tags, manifests, NOW + 1000, 1000);
    assert.deepEqual(
      [names(later.keep), names(later.untag), names(later.deferred), later.deleteManifests],
      [['new'], ['old'], [], [dg(1), dg(3)]],
    );
    // A young manifest that another kept tag holds anyway is no reason to wait: the tag is untagged at once.
    const shared = [...tags, { tag: 'old-alias', digest: dg(2), pushedAt: NOW - 530 }];
    assert.deepEqual(names(selectRepository(r, shared, manifests, NOW, 1000).untag), ['old-alias']);
    // An old tag whose manifest only a young referrer still reaches waits too: untagged now, both would stay.
    const reached = selectRepository(
      r,
      [{ tag: 'old', digest: dg(1), pushedAt: NOW - 100 * HOUR }, tags[1]],
      [img(1), img(2, NOW - 500), img(3, NOW - 510, 1)],
      NOW,
      1000,
    );
    assert.deepEqual([names(reached.deferred), reached.deleteManifests], [['old'], []]);
  });

  test('referrer-schema tags follow the manifest they name, and are never counted by recent', () => {
    const r = rule(`  - repositories: ["ci/**"]\n    keep:\n      - recent: 1\n`);
    const manifests = [img(1), img(2), img(91), img(92)];
    const tags = [
      { tag: 'new', digest: dg(2), pushedAt: NOW - 2 * HOUR },
      { tag: 'old', digest: dg(1), pushedAt: NOW - 50 * HOUR },
      { tag: `sha256-${hex(2)}.sig`, digest: dg(92), pushedAt: NOW - HOUR },
      { tag: `sha256-${hex(1)}.sig`, digest: dg(91), pushedAt: NOW - HOUR },
    ];
    const sel = selectRepository(r, tags, manifests, NOW, 0);
    assert.deepEqual(names(sel.keep), [`sha256-${hex(2)}.sig`, 'new']);
    assert.deepEqual(names(sel.untag).sort(), ['old', `sha256-${hex(1)}.sig`].sort());
    assert.deepEqual(sel.deleteManifests, [dg(1), dg(91)]);
  });
});
