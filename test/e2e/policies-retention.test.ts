/**
 * Retention end to end on the filesystem: the shared scenario (policies-fixture.ts) pushed over HTTP, push times
 * set on the links with fs.utimes, then `wharf policies plan --json` and `wharf garbage-collect --policies`
 * against the running server's data directory. The plan lists exactly the expected removals, the run removes
 * exactly those (and frees the bytes the plan said), every kept image pulls complete with skopeo (all platforms),
 * kept referrers stay listed and complete, and `wharf config check` explains the rule.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startWharf, testConfig, type Wharf } from './harness.js';
import { eventually } from './ops.js';
import {
  assertRunMatchesPlan,
  complete,
  listTags,
  policiesYaml,
  pushItem,
  scenario,
  wharfCli,
  type PlanJson,
} from './policies-fixture.js';
import { copy, SKOPEO, SKOPEO_MISSING } from './skopeo.js';

const HOUR = 3_600_000;

function walk(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .map((p) => join(dir, p))
    .filter((p) => statSync(p).isFile());
}

const V2 = ['docker', 'registry', 'v2'];
const hexOf = (d: string) => d.slice('sha256:'.length);

describe('retention on the filesystem: plan, run, pull', { skip: SKOPEO ? false : SKOPEO_MISSING }, () => {
  let w: Wharf;
  let work: string;
  let reg: string;
  const s = scenario(true);
  let plan: PlanJson;
  // An upload no manifest ever referenced (a push that died before its manifest): the run frees it, so the plan counts it.
  const stray = Buffer.from('a layer whose manifest never came');
  const strayDigest = `sha256:${createHash('sha256').update(stray).digest('hex')}`;
  // The notifications endpoint of the server and of the command line run (same config.yml).
  let hook: Server;
  const events: Array<{
    action: string;
    target: { repository?: string; tag?: string; digest?: string };
    request: { useragent: string };
  }> = [];

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-policies-'));
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        events.push(...(JSON.parse(body) as { events: typeof events }).events);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const notifications = `notifications:\n  endpoints:\n    - name: hook\n      url: http://127.0.0.1:${(hook.address() as AddressInfo).port}/events\n      timeout: 2s\n      threshold: 3\n      backoff: 1s\n`;
    w = await startWharf({
      config: testConfig({ extra: `gc:\n  graceperiod: 1h\n${policiesYaml('168h')}${notifications}` }),
    });
    reg = `127.0.0.1:${w.port}`;
    for (const { item, tag } of s.pushOrder) await pushItem(w.url, item, tag);
    const up = await fetch(`${w.url}/v2/ci/app/blobs/uploads/?digest=${strayDigest}`, {
      method: 'POST',
      body: new Uint8Array(stray),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(up.status, 201);
    // Everything was pushed 30 days ago, except what follows; build-N's tag (N-40) hours ago, so build-30 is newest.
    const now = Date.now();
    const age = (path: string, ms: number) => utimesSync(path, new Date(now - ms), new Date(now - ms));
    for (const f of walk(w.dataDir)) age(f, 30 * 24 * HOUR);
    const repo = (...p: string[]) => join(w.dataDir, ...V2, 'repositories', ...p);
    for (const b of s.builds)
      age(repo('ci', 'app', '_manifests', 'tags', b.tag!, 'current', 'link'), (40 - Number(b.tag!.slice(6))) * HOUR);
    for (const t of ['v1.0', 'v2.0', 'release-1'])
      age(repo('ci', 'app', '_manifests', 'tags', t, 'current', 'link'), 100 * HOUR);
    age(
      repo('ci', 'app', '_manifests', 'revisions', 'sha256', hexOf(s.orphanYoung!.manifest.digest), 'link'),
      24 * HOUR,
    );
  });

  after(async () => {
    await w?.cleanup();
    hook?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('the scenario is in place: 30 builds and the other tags are listed', async () => {
    const tags = await listTags(w.url, 'ci/app');
    assert.equal(tags.filter((t) => t.startsWith('build-')).length, 30);
    assert.ok(tags.includes('v1.0') && tags.includes('release-1'));
  });

  test('wharf policies plan lists exactly the expected removals and the bytes they free', async () => {
    const run = await wharfCli(w.dir, 'policies', 'plan', '--json');
    assert.equal(run.code, 0, run.stderr);
    plan = JSON.parse(run.stdout) as PlanJson;
    assert.deepEqual(
      plan.repositories.map((r) => [r.repository, r.rule]),
      [['ci/app', 0]],
      'other/lib follows no rule',
    );
    const untag = plan.repositories.flatMap((r) => r.untag.map((t) => `${r.repository}:${t.tag}`)).sort();
    assert.deepEqual(untag, s.untag);
    const deleted = plan.repositories
      .flatMap((r) => r.deleteManifests.map((m) => `${r.repository}@${m.digest}`))
      .sort();
    assert.deepEqual(deleted, s.fixture.expectedDeleted());
    const freed = s.fixture.expectedFreed().set(strayDigest, stray.length);
    assert.deepEqual(
      Object.fromEntries(plan.blobs.map((b) => [b.digest, b.size])),
      Object.fromEntries([...freed].sort()),
    );
    assert.equal(
      plan.bytesFreed,
      [...freed.values()].reduce((a, b) => a + b, 0),
    );
    assert.ok(!freed.has(s.fixture.base.blob.digest), 'the shared base layer is not freed');
    const text = await wharfCli(w.dir, 'policies', 'plan');
    assert.match(text.stdout, new RegExp(`^untag ci/app:build-1 sha256:[0-9a-f]{64} pushed `, 'm'));
    assert.match(
      text.stdout,
      new RegExp(
        `# total: 21 tags, ${deleted.length} manifests, ${freed.size} blobs, .* \\(${plan.bytesFreed} bytes\\) freed`,
      ),
    );
  });

  test('a dry run of garbage-collect --policies changes nothing', async () => {
    const run = await wharfCli(w.dir, 'garbage-collect', '--policies', '--dry-run');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^would untag ci\/app:build-1 /m);
    assert.equal((await listTags(w.url, 'ci/app')).length, s.keptTags.length + 21);
  });

  test('garbage-collect --policies removes exactly the plan, and frees the bytes it said', async () => {
    const run = await wharfCli(w.dir, 'garbage-collect', '--policies');
    await assertRunMatchesPlan(w.url, run, s, plan);
    for (const d of plan.blobs)
      assert.ok(
        !existsSync(join(w.dataDir, ...V2, 'blobs', 'sha256', hexOf(d.digest).slice(0, 2), hexOf(d.digest), 'data')),
        `${d.digest} is gone from disk`,
      );
  });

  test('the command line run sent a delete event for every tag, manifest and blob it removed, before it exited', () => {
    const deletes = events.filter((e) => e.action === 'delete');
    assert.ok(
      deletes.every((e) => e.request.useragent === 'wharf-cleanup'),
      'every delete came from the run',
    );
    const of = (pick: (e: (typeof deletes)[number]) => string | undefined) =>
      deletes
        .map(pick)
        .filter((x): x is string => x !== undefined)
        .sort();
    assert.deepEqual(
      of((e) => (e.target.tag ? `${e.target.repository}:${e.target.tag}` : undefined)),
      s.untag,
    );
    const manifests = new Set(s.fixture.all().map((i) => i.manifest.digest));
    assert.deepEqual(
      of((e) =>
        e.target.digest && manifests.has(e.target.digest) ? `${e.target.repository}@${e.target.digest}` : undefined,
      ),
      s.fixture.expectedDeleted(),
    );
    // A blob's event names the repository it is gone from, as Distribution's blob delete does; a deleted
    // manifest's own stored bytes are not announced twice (a delete target is just {digest, repository}).
    const layersAndConfigs = plan.blobs.filter((b) => !manifests.has(b.digest));
    assert.ok(layersAndConfigs.length > 0 && layersAndConfigs.length < plan.blobs.length);
    assert.deepEqual(
      of((e) =>
        e.target.digest && !manifests.has(e.target.digest) ? `${e.target.repository}@${e.target.digest}` : undefined,
      ),
      layersAndConfigs.map((b) => `ci/app@${b.digest}`).sort(),
    );
  });

  test('deleted manifests answer 404; every kept manifest and blob answers complete', async () => {
    const deleted = new Set(s.fixture.expectedDeleted());
    for (const i of s.fixture.all()) {
      const key = `${i.repo}@${i.manifest.digest}`;
      if (deleted.has(key)) {
        // The server trusts a revision link it cached for up to 15 s (another process, the CLI, deleted it).
        const gone = await eventually(
          async () => {
            const r = await fetch(`${w.url}/v2/${i.repo}/manifests/${i.manifest.digest}`, {
              method: 'HEAD',
              headers: {
                Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json',
              },
            });
            return r.status === 404;
          },
          30_000,
          500,
        );
        assert.ok(gone, `${key} was deleted`);
      } else {
        assert.ok(await complete(w.url, i), `${key} is complete`);
      }
    }
  });

  test('kept referrers are still listed for their subjects', async () => {
    for (const r of s.keptReferrers) {
      const subject = JSON.parse(r.manifest.bytes.toString()).subject.digest as string;
      const res = await fetch(`${w.url}/v2/${r.repo}/referrers/${subject}`);
      const body = (await res.json()) as { manifests: Array<{ digest: string }> };
      assert.deepEqual(
        body.manifests.map((m) => m.digest),
        [r.manifest.digest],
      );
    }
  });

  test('every kept tag pulls complete with skopeo, all platforms', async () => {
    const kept: Array<[string, string]> = [
      ...s.keptTags.map((t): [string, string] => ['ci/app', t]),
      ['other/lib', 'stable'],
    ];
    for (const [repo, tag] of kept) {
      const out = join(work, `pull-${repo.replace('/', '-')}-${tag}`);
      await copy(`docker://${reg}/${repo}:${tag}`, `oci:${out}:x`, '--all');
      assert.ok(existsSync(join(out, 'index.json')), `${repo}:${tag}`);
    }
  });

  test('wharf config check explains the rule', async () => {
    const run = await wharfCli(w.dir, 'config', 'check');
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /# {3}policies\[0\] \(ci\/\*\*, first match wins\): tags v\*, release-\* are immutable \(and always kept\); cleanup keeps of tags: the 10 most recently pushed; every one of tags v\*;/,
    );
    assert.match(run.stdout, /manifests no tag reaches are deleted once pushed more than 168h ago/);
  });
});
