/**
 * Access rules (`access:`) behind `auth.htpasswd`, end to end against the real process:
 * - the README's example rules give exactly the hand-written table of accounts (alice, bob, carol in group
 *   admins, anonymous) x repositories (alice/app, bob/app, public/base, team/x) x actions (pull, push, delete):
 *   allowed -> 2xx; no credentials -> 401 with the Basic challenge and Distribution's body (unless anonymous may);
 *   authenticated but not allowed -> 403 DENIED with the exact body; a wrong password is a 401, never a 403;
 * - the catalog lists only what the caller may pull (also across pages); anonymous without a catalog rule gets the
 *   401 challenge; `catalog: false`, or no rule that says, gets 403;
 * - `wharf config check` and `wharf serve` refuse an unknown group and an unknown action, naming the key path.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ACCOUNTS,
  ACTIONS,
  ALLOWED,
  accessesOf,
  act,
  basic,
  errorBody,
  EXAMPLE_RULES,
  REPOS,
  seed,
  USERS,
  writeUsers,
  type Account,
  type AuthFor,
} from './access.js';
import { configWith, MAIN, startWharf, type Wharf } from './harness.js';

const REALM = 'wharf access e2e';
const CHALLENGE = `Basic realm="${REALM}"`;

function config(access: string): string {
  return configWith(`auth:
  htpasswd:
    realm: ${REALM}
    path: {{dir}}/users
bruteforce:
  maxfailures: 10000
${access}`);
}

async function startWith(users: Record<string, string>, access: string): Promise<Wharf> {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-access-'));
  writeUsers(join(dir, 'users'), users);
  try {
    return await startWharf({ dir, config: config(access) });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

const authOf =
  (account: Account): AuthFor =>
  async () =>
    account === 'anonymous' ? {} : basic(account, USERS[account]);

describe('access rules with auth.htpasswd: the example table', () => {
  let w: Wharf;
  /** Per repository, the digest of a manifest only carol may delete (deleted by carol, last). */
  const deletable: Record<string, string> = {};

  before(async () => {
    w = await startWith(USERS, EXAMPLE_RULES);
    for (const repo of REPOS) {
      await seed(w.url, repo, 'v1', `v1-${repo}`, authOf('carol'));
      deletable[repo] = await seed(w.url, repo, 'del', `del-${repo}`, authOf('carol'));
    }
  });

  after(async () => {
    await w?.cleanup();
  });

  // carol (the only one who may delete) goes last, so the manifests others fail to delete are still there.
  for (const account of ACCOUNTS) {
    test(`${account}: every repository x action as the table says`, async () => {
      for (const repo of REPOS) {
        for (const action of ACTIONS) {
          const answers = await act(w.url, repo, action, authOf(account), account, deletable[repo]);
          const where = `${account} ${action} ${repo}`;
          if (ALLOWED[account][repo].includes(action)) {
            for (const a of answers) assert.ok(a.status >= 200 && a.status < 300, `${where}: ${a.status} ${a.body}`);
            if (action === 'delete') assert.equal(answers[0].status, 202, where);
          } else if (account === 'anonymous') {
            for (const a of answers)
              assert.deepEqual(
                a,
                { status: 401, challenge: CHALLENGE, body: errorBody('UNAUTHORIZED', repo, accessesOf(action)) },
                where,
              );
          } else {
            for (const a of answers)
              assert.deepEqual(
                a,
                { status: 403, challenge: null, body: errorBody('DENIED', repo, accessesOf(action)) },
                where,
              );
          }
        }
      }
    });
  }

  test("what was pushed is there: alice's tag in alice/app, none of hers in bob/app; carol's deletes took effect", async () => {
    const tags = async (repo: string) =>
      (
        (await (await fetch(`${w.url}/v2/${repo}/tags/list`, { headers: basic('carol', USERS.carol) })).json()) as {
          tags: string[];
        }
      ).tags.sort();
    assert.deepEqual(await tags('alice/app'), ['by-alice', 'by-carol', 'v1']);
    assert.deepEqual(await tags('bob/app'), ['by-bob', 'by-carol', 'v1']);
    assert.deepEqual(await tags('team/x'), ['by-carol', 'v1']);
  });

  test('anonymous pulls public/** without any Authorization header, and only pulls', async () => {
    const r = await fetch(`${w.url}/v2/public/base/tags/list`);
    assert.equal(r.status, 200);
    assert.deepEqual(((await r.json()) as { tags: string[] }).tags.sort(), ['by-carol', 'v1']);
    const head = await fetch(`${w.url}/v2/public/base/manifests/v1`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(head.status, 200);
    // The base endpoint still challenges: that is how clients learn to log in.
    const base = await fetch(`${w.url}/v2/`);
    assert.equal(base.status, 401);
    assert.equal(base.headers.get('www-authenticate'), CHALLENGE);
  });

  test('a wrong password is 401 with the challenge, even where anonymous may pull and where the user is denied', async () => {
    for (const repo of ['public/base', 'bob/app', 'alice/app']) {
      const r = await fetch(`${w.url}/v2/${repo}/tags/list`, { headers: basic('alice', 'not-her-password') });
      assert.equal(r.status, 401, repo);
      assert.equal(r.headers.get('www-authenticate'), CHALLENGE);
      assert.equal(await r.text(), errorBody('UNAUTHORIZED', repo, ['pull']));
    }
  });

  test('a cross-repository mount needs pull on the source: bob may mount from alice/app into bob/app, alice may not mount into bob/app', async () => {
    const manifest = (await (
      await fetch(`${w.url}/v2/alice/app/manifests/v1`, {
        headers: { ...basic('bob', USERS.bob), Accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).json()) as { config: { digest: string } };
    const digest = manifest.config.digest;
    const ok = await fetch(`${w.url}/v2/bob/app/blobs/uploads/?mount=${digest}&from=alice/app`, {
      method: 'POST',
      headers: basic('bob', USERS.bob),
    });
    await ok.arrayBuffer();
    assert.equal(ok.status, 201);
    // alice may pull bob/app but not push there: the mount's target decides.
    const denied = await fetch(`${w.url}/v2/bob/app/blobs/uploads/?mount=${digest}&from=alice/app`, {
      method: 'POST',
      headers: basic('alice', USERS.alice),
    });
    assert.equal(denied.status, 403);
    assert.equal(
      await denied.text(),
      JSON.stringify({
        errors: [
          {
            code: 'DENIED',
            message: 'requested access to the resource is denied',
            detail: [
              { Type: 'repository', Class: '', Name: 'bob/app', Action: 'pull' },
              { Type: 'repository', Class: '', Name: 'bob/app', Action: 'push' },
              { Type: 'repository', Class: '', Name: 'alice/app', Action: 'pull' },
            ],
          },
        ],
      }) + '\n',
    );
  });
});

describe('access rules with auth.htpasswd: the catalog', () => {
  let w: Wharf;
  const users = { ...USERS, dave: 'dave-Pa55-acc', erin: 'erin-Pa55-acc' };
  const CATALOG_RULES = `access:
  groups: { admins: [carol] }
  rules:
    - { accounts: [group:admins], repositories: ["**"], actions: ["*"], catalog: true }
    - { accounts: [dave], repositories: ["**"], actions: [pull], catalog: false }
    - { accounts: [erin], repositories: ["**"], actions: [pull] }
    - { accounts: [alice, bob], repositories: ["\${account}/**", "public/**"], actions: [pull, push], catalog: true }
    - { accounts: [anonymous], repositories: ["public/**"], actions: [pull] }
`;
  const as = (user: keyof typeof users) => basic(user, users[user]);

  before(async () => {
    w = await startWith(users, CATALOG_RULES);
    for (const repo of ['alice/app', 'alice/tools', 'bob/app', 'public/base', 'team/x'])
      await seed(w.url, repo, 'v1', repo, async () => as('carol'));
  });

  after(async () => {
    await w?.cleanup();
  });

  const catalog = async (headers: Record<string, string>, query = '') => {
    const r = await fetch(`${w.url}/v2/_catalog${query}`, { headers });
    return {
      status: r.status,
      link: r.headers.get('link'),
      challenge: r.headers.get('www-authenticate'),
      body: await r.text(),
    };
  };

  test('each user sees only the repositories they may pull', async () => {
    const expected: Record<string, string[]> = {
      carol: ['alice/app', 'alice/tools', 'bob/app', 'public/base', 'team/x'],
      alice: ['alice/app', 'alice/tools', 'public/base'],
      bob: ['bob/app', 'public/base'],
    };
    for (const [user, repos] of Object.entries(expected)) {
      const r = await catalog(as(user as keyof typeof users));
      assert.equal(r.status, 200, `${user}: ${r.body}`);
      assert.deepEqual(JSON.parse(r.body), { repositories: repos }, user);
    }
  });

  test('pagination runs over the filtered list: n=1 pages through alice’s three repositories', async () => {
    const seen: string[] = [];
    let query = '?n=1';
    for (let i = 0; i < 5 && query; i++) {
      const r = await catalog(as('alice'), query);
      assert.equal(r.status, 200);
      seen.push(...(JSON.parse(r.body) as { repositories: string[] }).repositories);
      query = r.link ? (/<[^>?]*(\?[^>]*)>/.exec(r.link)?.[1] ?? '') : '';
    }
    assert.deepEqual(seen, ['alice/app', 'alice/tools', 'public/base']);
  });

  test('anonymous without a catalog rule gets the 401 challenge and the exact body', async () => {
    assert.deepEqual(await catalog({}), {
      status: 401,
      link: null,
      challenge: CHALLENGE,
      body: errorBody('UNAUTHORIZED', null, []),
    });
  });

  test('catalog: false (dave) and no catalog rule at all (erin) get 403 DENIED, though both may pull everything', async () => {
    for (const user of ['dave', 'erin'] as const) {
      assert.deepEqual(
        await catalog(as(user)),
        { status: 403, link: null, challenge: null, body: errorBody('DENIED', null, []) },
        user,
      );
      const pull = await fetch(`${w.url}/v2/team/x/tags/list`, { headers: as(user) });
      await pull.arrayBuffer();
      assert.equal(pull.status, 200, user);
    }
  });
});

describe('access rules: configuration errors name the key path', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-access-config-'));
    writeUsers(join(dir, 'users'), USERS);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const check = (name: string, access: string) => {
    const path = join(dir, name);
    writeFileSync(
      path,
      config(access).replaceAll('{{data}}', join(dir, 'data')).replaceAll('{{port}}', '0').replaceAll('{{dir}}', dir),
    );
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('REGISTRY_')) delete env[k];
    return {
      check: spawnSync(process.execPath, [MAIN, 'config', 'check', path], { encoding: 'utf8', env }),
      serve: spawnSync(process.execPath, [MAIN, 'serve', path], { encoding: 'utf8', env, timeout: 20_000 }),
    };
  };

  test('a rule naming an unknown group: access.rules.N.accounts.M', () => {
    const { check: c, serve } = check(
      'group.yml',
      `access:\n  groups: { admins: [carol] }\n  rules:\n    - { accounts: [alice], repositories: ["**"], actions: [pull] }\n    - { accounts: [bob, group:devs], repositories: ["**"], actions: [pull] }\n`,
    );
    assert.equal(c.status, 1);
    assert.match(
      c.stderr,
      /error: access\.rules\.1\.accounts\.1: unknown group "devs" \(define it under access\.groups\)/,
    );
    assert.equal(serve.status, 1);
    assert.match(serve.stderr, /access\.rules\.1\.accounts\.1: unknown group "devs"/);
  });

  test('a rule with an action that does not exist: access.rules.N.actions.M', () => {
    const { check: c, serve } = check(
      'action.yml',
      `access:\n  rules:\n    - { accounts: ["*"], repositories: ["**"], actions: [pull, write] }\n`,
    );
    assert.equal(c.status, 1);
    assert.match(
      c.stderr,
      /error: access\.rules\.0\.actions\.1: must be one of pull, push, delete, overwrite, \*, got "write"/,
    );
    assert.equal(serve.status, 1);
    assert.match(serve.stderr, /access\.rules\.0\.actions\.1/);
  });
});

describe('access rules with auth.htpasswd: SIGHUP replaces the rules', () => {
  let w: Wharf;
  const only = (who: string) =>
    `access:\n  rules:\n    - { accounts: [${who}], repositories: ["**"], actions: [pull], catalog: true }\n`;
  before(async () => {
    w = await startWith(USERS, only('alice'));
  });
  after(async () => {
    await w?.cleanup();
  });

  test('bob is denied, the file now names bob, SIGHUP: bob is allowed and alice is denied, without a restart', async () => {
    const catalog = (user: 'alice' | 'bob') => fetch(`${w.url}/v2/_catalog`, { headers: basic(user, USERS[user]) });
    assert.equal((await catalog('alice')).status, 200);
    assert.equal((await catalog('bob')).status, 403);
    const pid = w.proc.pid;
    const path = join(w.dir, 'config.yml');
    writeFileSync(
      path,
      config(only('bob'))
        .replaceAll('{{data}}', w.dataDir)
        .replaceAll('{{port}}', String(w.port))
        .replaceAll('{{dir}}', w.dir),
    );
    w.proc.kill('SIGHUP');
    // The reload runs after the signal arrives: poll (bounded) until bob's answer changes.
    const deadline = Date.now() + 5000;
    let status = 0;
    while ((status = (await catalog('bob')).status) !== 200 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(status, 200);
    assert.equal((await catalog('alice')).status, 403);
    assert.equal(w.proc.pid, pid, 'same process');
    assert.equal(w.proc.exitCode, null);
  });
});
