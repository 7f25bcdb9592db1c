/**
 * Immutable tags (`policies[].immutable`) against the real process with htpasswd auth and access rules:
 * re-pushing the digest an immutable tag names is 201; moving it is 403 DENIED naming the rule, and stores
 * nothing; deleting it (by tag, or its manifest by digest) is 403; an account granted `overwrite` may do both;
 * `*` does not imply `overwrite`; other tags move freely; SIGHUP replaces the rules; the UI's preview marks them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { basic, writeUsers } from './access.js';
import { startWharf, testConfig, type Wharf } from './harness.js';
import { eventually } from './ops.js';
import { Fixture, type Item } from './policies-fixture.js';

const USERS = { ci: 'ci-secret', admin: 'admin-secret', root: 'root-secret' };
const POLICIES = `policies:
  - repositories: ["app/**"]
    immutable: ["v*"]
`;

function config(policies: string): string {
  return testConfig({
    logLevel: 'info',
    extra: `auth:
  htpasswd:
    realm: immutable
    path: {{dir}}/users
access:
  rules:
    - accounts: [admin]
      repositories: ["**"]
      actions: [pull, push, delete, overwrite]
    - accounts: [ci, root]
      repositories: ["**"]
      actions: ["*"]
      catalog: true
${policies}`,
  });
}

describe('immutable tags', () => {
  let w: Wharf;
  const f = new Fixture();
  const one = f.image('app/web', 'v1', 'one', true, 0);
  const two = f.image('app/web', 'v1', 'two', true, 0);
  const three = f.image('app/web', 'latest', 'three', true, 0);
  const as = (user: keyof typeof USERS) => basic(user, USERS[user]);

  async function push(item: Item, tag: string, user: keyof typeof USERS): Promise<Response> {
    for (const b of item.blobs) {
      const r = await fetch(`${w.url}/v2/${item.repo}/blobs/uploads/?digest=${b.digest}`, {
        method: 'POST',
        body: new Uint8Array(b.bytes),
        headers: { ...as(user), 'Content-Type': 'application/octet-stream' },
      });
      await r.arrayBuffer();
      assert.equal(r.status, 201);
    }
    return fetch(`${w.url}/v2/${item.repo}/manifests/${tag}`, {
      method: 'PUT',
      body: new Uint8Array(item.manifest.bytes),
      headers: { ...as(user), 'Content-Type': item.manifest.mediaType },
    });
  }

  async function digestOf(tag: string): Promise<string | null> {
    const r = await fetch(`${w.url}/v2/app/web/manifests/${tag}`, {
      method: 'HEAD',
      headers: { ...as('ci'), Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    return r.status === 200 ? r.headers.get('docker-content-digest') : null;
  }

  async function del(ref: string, user: keyof typeof USERS): Promise<Response> {
    return fetch(`${w.url}/v2/app/web/manifests/${ref}`, { method: 'DELETE', headers: as(user) });
  }

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-immutable-'));
    writeUsers(join(dir, 'users'), USERS);
    w = await startWharf({ dir, config: config(POLICIES) });
  });

  after(async () => {
    await w?.cleanup();
  });

  test('the first push and a re-push of the same digest are 201', async () => {
    assert.equal((await push(one, 'v1', 'ci')).status, 201);
    assert.equal((await push(one, 'v1', 'ci')).status, 201);
    assert.equal(await digestOf('v1'), one.manifest.digest);
  });

  test('moving it to another digest is 403 DENIED naming the rule, and stores nothing', async () => {
    const r = await push(two, 'v1', 'ci');
    assert.equal(r.status, 403);
    const body = (await r.json()) as {
      errors: Array<{ code: string; message: string; detail: Record<string, string> }>;
    };
    assert.equal(body.errors[0].code, 'DENIED');
    assert.match(
      body.errors[0].message,
      /^tag v1 is immutable \(policies\[0\]\.immutable: v\*\): it cannot be moved to another digest/,
    );
    assert.deepEqual(
      { rule: body.errors[0].detail.rule, pattern: body.errors[0].detail.pattern },
      { rule: 'policies[0]', pattern: 'v*' },
    );
    assert.equal(await digestOf('v1'), one.manifest.digest);
    const stored = await fetch(`${w.url}/v2/app/web/manifests/${two.manifest.digest}`, {
      method: 'HEAD',
      headers: { ...as('ci'), Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(stored.status, 404, 'the refused manifest was not stored');
  });

  test('deleting it, by tag or by the digest it names, is 403; `*` does not grant overwrite', async () => {
    const byTag = await del('v1', 'root');
    assert.equal(byTag.status, 403);
    assert.match(
      ((await byTag.json()) as { errors: Array<{ message: string }> }).errors[0].message,
      /it cannot be deleted/,
    );
    const byDigest = await del(one.manifest.digest, 'ci');
    assert.equal(byDigest.status, 403);
    await byDigest.arrayBuffer();
    assert.equal(await digestOf('v1'), one.manifest.digest);
  });

  test('a tag no pattern matches moves and deletes as usual', async () => {
    assert.equal((await push(three, 'latest', 'ci')).status, 201);
    assert.equal((await push(one, 'latest', 'ci')).status, 201);
    const r = await del('latest', 'ci');
    assert.equal(r.status, 202);
  });

  test('an account granted overwrite may move and delete it', async () => {
    assert.equal((await push(two, 'v1', 'admin')).status, 201);
    assert.equal(await digestOf('v1'), two.manifest.digest);
    const r = await del('v1', 'admin');
    assert.equal(r.status, 202);
    assert.equal(await digestOf('v1'), null);
  });

  test('the UI preview marks immutable tags', async () => {
    assert.equal((await push(one, 'v2', 'ci')).status, 201);
    const r = await fetch(`${w.url}/_ui/api/lifecycle?repository=app/web`, { headers: as('ci') });
    assert.equal(r.status, 200);
    const body = (await r.json()) as {
      rule: { index: number } | null;
      tags: Array<{ tag: string; immutable: boolean; alone: number }>;
    };
    assert.equal(body.rule?.index, 0);
    assert.deepEqual(
      body.tags.map((t) => [t.tag, t.immutable]),
      [['v2', true]],
    );
    assert.ok(body.tags[0].alone > 0, 'v2 holds its own layer and config alone');
  });

  test('racing first pushes of a new immutable tag with different digests: exactly one wins, the rest are 403', async () => {
    const racers = Array.from({ length: 12 }, (_, i) => f.image('app/web', 'v9', `race-${i}`, true, 0));
    // Blobs first, one image after another; then every manifest PUT at once.
    for (const item of racers) {
      for (const b of item.blobs) {
        const r = await fetch(`${w.url}/v2/${item.repo}/blobs/uploads/?digest=${b.digest}`, {
          method: 'POST',
          body: new Uint8Array(b.bytes),
          headers: { ...as('ci'), 'Content-Type': 'application/octet-stream' },
        });
        await r.arrayBuffer();
        assert.equal(r.status, 201);
      }
    }
    const put = (item: Item) =>
      fetch(`${w.url}/v2/app/web/manifests/v9`, {
        method: 'PUT',
        body: new Uint8Array(item.manifest.bytes),
        headers: { ...as('ci'), 'Content-Type': item.manifest.mediaType },
      });
    const answers = await Promise.all(
      racers.map(async (item) => {
        const r = await put(item);
        await r.arrayBuffer();
        return { status: r.status, digest: item.manifest.digest };
      }),
    );
    const won = answers.filter((a) => a.status === 201);
    assert.equal(won.length, 1, JSON.stringify(answers.map((a) => a.status)));
    assert.ok(
      answers.every((a) => a.status === 201 || a.status === 403),
      JSON.stringify(answers.map((a) => a.status)),
    );
    assert.equal(await digestOf('v9'), won[0].digest, 'the tag names the one push that was told 201');
  });

  test('SIGHUP replaces the rules: other patterns protect, the old ones no longer do', async () => {
    writeFileSync(
      join(w.dir, 'config.yml'),
      readFileSync(join(w.dir, 'config.yml'), 'utf8').replace('immutable: ["v*"]', 'immutable: ["stable"]'),
    );
    w.proc.kill('SIGHUP');
    assert.ok(await eventually(() => /SIGHUP: reloaded .*policies \(1 rule\)/.test(w.output())), w.output());
    assert.equal((await push(two, 'v2', 'ci')).status, 201, 'v2 is no longer immutable');
    assert.equal((await push(one, 'stable', 'ci')).status, 201);
    assert.equal((await push(two, 'stable', 'ci')).status, 403);
  });
});
