/**
 * Retention end to end on S3 (real Ceph RGW): the shared scenario (policies-fixture.ts) pushed in two waves with a
 * real gap between them, as S3's LastModified cannot be set (and counts whole seconds): the ten builds of the
 * second wave are the ten newest. `wharf policies plan --json` lists exactly the expected removals, a real
 * `wharf garbage-collect --policies` removes exactly those and frees the bytes the plan said, and every kept
 * image pulls complete with skopeo (all platforms), its referrers still listed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startWharf, type Wharf } from './harness.js';
import { eventually, sleep } from './ops.js';
import {
  assertRunMatchesPlan,
  complete,
  policiesYaml,
  pushItem,
  scenario,
  wharfCli,
  type PlanJson,
} from './policies-fixture.js';
import { s3Unavailable, startS3, type S3Server } from './s3server.js';
import { createBucket, listKeys, wharfS3Config } from './s3wharf.js';
import { copy, SKOPEO, SKOPEO_MISSING } from './skopeo.js';

const reason = s3Unavailable() ?? (SKOPEO ? null : SKOPEO_MISSING);

describe('retention on S3: plan, run, pull', { skip: reason ?? undefined }, () => {
  let s3: S3Server;
  let w: Wharf;
  let work: string;
  const bucket = 'policies';
  const s = scenario(false);
  let plan: PlanJson;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-policies-s3-'));
    s3 = await startS3();
    await createBucket(s3, bucket);
    w = await startWharf({
      config: wharfS3Config(s3, bucket, { extra: `gc:\n  graceperiod: 1s\n${policiesYaml('1s')}` }),
    });
    for (const { item, tag } of s.pushOrder.filter((o) => o.item.wave === 0)) await pushItem(w.url, item, tag);
    await sleep(1500); // LastModified has one-second resolution: the second wave is newer for sure
    for (const { item, tag } of s.pushOrder.filter((o) => o.item.wave === 1)) await pushItem(w.url, item, tag);
    await sleep(2500); // everything older than the grace period and deleteuntagged (1s)
  });

  after(async () => {
    await w?.cleanup();
    await s3?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('the plan lists exactly the expected removals and bytes', async () => {
    const run = await wharfCli(w.dir, 'policies', 'plan', '--json');
    assert.equal(run.code, 0, run.stderr);
    plan = JSON.parse(run.stdout);
    assert.deepEqual(plan.repositories.flatMap((r) => r.untag.map((t) => `${r.repository}:${t.tag}`)).sort(), s.untag);
    assert.deepEqual(
      plan.repositories.flatMap((r) => r.deleteManifests.map((m) => `${r.repository}@${m.digest}`)).sort(),
      s.fixture.expectedDeleted(),
    );
    const freed = s.fixture.expectedFreed();
    assert.deepEqual(
      Object.fromEntries(plan.blobs.map((b) => [b.digest, b.size])),
      Object.fromEntries([...freed].sort()),
    );
  });

  test('a real run removes exactly those and frees what the plan said', async () => {
    const run = await wharfCli(w.dir, 'garbage-collect', '--policies');
    await assertRunMatchesPlan(w.url, run, s, plan);
    const keys = new Set(await listKeys(s3, bucket));
    for (const b of plan.blobs)
      assert.ok(![...keys].some((k) => k.includes(b.digest.slice(7))), `${b.digest} is gone from the bucket`);
  });

  test('kept images pull complete with skopeo (all platforms) and keep their referrers; removed ones are gone', async () => {
    for (const tag of s.keptTags) {
      const out = join(work, `pull-${tag}`);
      await copy(`docker://127.0.0.1:${w.port}/ci/app:${tag}`, `oci:${out}:x`, '--all');
      assert.ok(existsSync(join(out, 'index.json')), tag);
    }
    const deleted = new Set(s.fixture.expectedDeleted());
    for (const i of s.fixture.all()) {
      if (!deleted.has(`${i.repo}@${i.manifest.digest}`))
        assert.ok(await complete(w.url, i), `${i.repo}@${i.manifest.digest} complete`);
    }
    for (const r of s.keptReferrers) {
      const subject = JSON.parse(r.manifest.bytes.toString()).subject.digest as string;
      const body = (await (await fetch(`${w.url}/v2/${r.repo}/referrers/${subject}`)).json()) as {
        manifests: Array<{ digest: string }>;
      };
      assert.deepEqual(
        body.manifests.map((m) => m.digest),
        [r.manifest.digest],
      );
    }
    const some = s.orphanOld;
    assert.ok(
      await eventually(
        async () =>
          (
            await fetch(`${w.url}/v2/${some.repo}/manifests/${some.manifest.digest}`, {
              method: 'HEAD',
              headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
            })
          ).status === 404,
        30_000,
        500,
      ),
    );
  });
});
