/**
 * Access rules: globbing (`*` within one path component, `**` across, everything else literal), `${account}`
 * (literal text, never a glob), accounts (`anonymous`, `*`, globs, `group:`), first match decides, `*` actions
 * without `overwrite`, the catalog flag, SIGHUP replacement, and withPolicy's translation to 401/403.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import type { Access } from './access.js';
import { openAccess } from './controller.js';
import { AccessPolicy, globToRegExp, withPolicy, type AccessRule } from './policy.js';
import { sillyAccess } from './silly.js';

const repo = (name: string, action: string): Access => ({ type: 'repository', class: '', name, action });
const catalog: Access = { type: 'registry', class: '', name: 'catalog', action: '*' };

function policy(rules: AccessRule[], groups: Record<string, string[]> = {}): AccessPolicy {
  return new AccessPolicy({ groups, rules });
}

test('globs: * stays within a path component, ** crosses them, the rest is literal', () => {
  const cases: Array<[string, string, boolean]> = [
    ['team/*', 'team/app', true],
    ['team/*', 'team/a/b', false],
    ['team/*', 'team', false],
    ['team/*', 'team/', true],
    ['team/**', 'team/a/b/c', true],
    ['team/**', 'team/a', true],
    ['team/**', 'team', false],
    ['team/**', 'teamx/a', false],
    ['**', 'any/depth/at/all', true],
    ['*', 'top', true],
    ['*', 'two/levels', false],
    ['*/base', 'lib/base', true],
    ['*/base', 'a/b/base', false],
    ['**/base', 'a/b/base', true],
    ['a*c', 'abbbc', true],
    ['a*c', 'ab/c', false],
    ['a.b', 'a.b', true],
    ['a.b', 'axb', false],
    ['x+y', 'x+y', true],
    ['x+y', 'xxy', false],
    ['(a|b)', 'a', false],
    ['(a|b)', '(a|b)', true],
    ['exact', 'exact', true],
    ['exact', 'exactly', false],
    ['exact', 'not-exact', false],
  ];
  for (const [glob, name, expected] of cases)
    assert.equal(globToRegExp(glob).test(name), expected, `${glob} ~ ${name}`);
});

test('accounts: anonymous is only the caller without a name; * is every named user; globs and groups', () => {
  const p = policy(
    [
      { accounts: ['anonymous'], repositories: ['public/**'], actions: ['pull'] },
      { accounts: ['ci-*'], repositories: ['builds/**'], actions: ['pull', 'push'] },
      { accounts: ['group:admins'], repositories: ['**'], actions: ['*'] },
      { accounts: ['*'], repositories: ['shared/*'], actions: ['pull'] },
    ],
    { admins: ['root', 'ops-*'] },
  );
  assert.ok(p.allows(null, repo('public/x', 'pull')));
  assert.ok(!p.allows(null, repo('shared/x', 'pull')), '* is not anonymous');
  assert.ok(!p.allows('alice', repo('public/x', 'pull')), 'anonymous is not every user');
  assert.ok(p.allows('alice', repo('shared/x', 'pull')));
  assert.ok(p.allows('ci-runner', repo('builds/app/1', 'push')));
  assert.ok(!p.allows('ci', repo('builds/app', 'push')), 'ci-* needs the dash');
  assert.ok(!p.allows('xci-runner', repo('builds/app', 'push')), 'globs are anchored');
  assert.ok(p.allows('root', repo('anything/at/all', 'delete')));
  assert.ok(p.allows('ops-eu', repo('anything', 'push')), 'group members may be globs');
  assert.ok(!p.allows('ops', repo('anything', 'push')));
  assert.ok(!p.allows(null, repo('anything', 'pull')), 'a group never matches anonymous');
});

test('an unknown group matches nobody', () => {
  const p = policy([{ accounts: ['group:ghosts'], repositories: ['**'], actions: ['*'] }]);
  assert.ok(!p.allows('ghosts', repo('x', 'pull')));
  assert.ok(!p.allows('group:ghosts', repo('x', 'pull')));
});

test("${account} is the caller's name as literal text: own namespace, never another's, never anonymous", () => {
  const p = policy([
    { accounts: ['*'], repositories: ['${account}/**', 'home/${account}/*'], actions: ['*'] },
    { accounts: ['*'], repositories: ['**'], actions: ['pull'] },
  ]);
  assert.ok(p.allows('alice', repo('alice/app', 'push')));
  assert.ok(p.allows('alice', repo('alice/deep/app', 'push')));
  assert.ok(!p.allows('alice', repo('alice', 'push')), '${account}/** needs a component after the name');
  assert.ok(!p.allows('alice', repo('bob/app', 'push')));
  assert.ok(p.allows('alice', repo('bob/app', 'pull')), 'the next rule still applies to other repositories');
  assert.ok(!p.allows('alice', repo('alicex/app', 'push')));
  assert.ok(p.allows('alice', repo('home/alice/app', 'push')));
  assert.ok(!p.allows('alice', repo('home/alice/a/b', 'push')));
  // Glob and regular-expression characters in a user name are literal.
  assert.ok(p.allows('a.b', repo('a.b/app', 'push')));
  assert.ok(!p.allows('a.b', repo('axb/app', 'push')));
  assert.ok(p.allows('x*', repo('x*/app', 'push')));
  assert.ok(!p.allows('x*', repo('xyz/app', 'push')), 'a * in a name is not a glob');
  assert.ok(!p.allows('.*', repo('anything/app', 'push')));
  const anon = policy([{ accounts: ['anonymous'], repositories: ['${account}/**'], actions: ['pull'] }]);
  assert.ok(!anon.allows(null, repo('null/x', 'pull')));
  assert.ok(!anon.allows(null, repo('/x', 'pull')));
});

test('the first rule matching both account and repository decides; none matching denies', () => {
  const p = policy([
    { accounts: ['alice'], repositories: ['team/*'], actions: ['pull'] },
    { accounts: ['*'], repositories: ['team/*', 'other/*'], actions: ['pull', 'push'] },
  ]);
  assert.deepEqual([...p.actionsOn('alice', 'team/app')], ['pull']);
  assert.ok(!p.allows('alice', repo('team/app', 'push')), 'the narrower first rule wins');
  assert.ok(p.allows('alice', repo('other/app', 'push')), 'a rule not matching the repository is skipped');
  assert.ok(p.allows('bob', repo('team/app', 'push')));
  assert.deepEqual([...p.actionsOn('bob', 'nowhere/app')], []);
  assert.ok(!p.allows('bob', repo('nowhere/app', 'pull')));
});

test('* grants pull, push and delete but never overwrite; overwrite must be named', () => {
  const p = policy([
    { accounts: ['releaser'], repositories: ['**'], actions: ['*', 'overwrite'] },
    { accounts: ['*'], repositories: ['**'], actions: ['*'] },
  ]);
  for (const action of ['pull', 'push', 'delete']) assert.ok(p.allows('dev', repo('x', action)), action);
  assert.ok(!p.allows('dev', repo('x', 'overwrite')));
  assert.ok(!p.mayOverwrite('dev', 'x'));
  assert.ok(p.allows('releaser', repo('x', 'overwrite')));
  assert.ok(p.mayOverwrite('releaser', 'x'));
});

test('catalog: decided by the first matching rule that sets it; off by default; only registry:catalog', () => {
  const p = policy([
    { accounts: ['intern'], repositories: ['**'], actions: ['pull'], catalog: false },
    { accounts: ['alice'], repositories: ['**'], actions: ['pull'] },
    { accounts: ['*'], repositories: ['none'], actions: [], catalog: true },
  ]);
  assert.ok(!p.allows('intern', catalog));
  assert.ok(p.allows('alice', catalog), 'a rule without the flag does not decide');
  assert.ok(!p.allows(null, catalog));
  assert.ok(!p.allows('alice', { ...catalog, name: 'other' }));
  assert.ok(
    !policy([{ accounts: ['*'], repositories: ['**'], actions: ['*'] }]).allows('alice', catalog),
    'off unless set',
  );
  assert.ok(p.allowsAll('alice', [catalog, repo('x', 'pull')]));
  assert.ok(!p.allowsAll('alice', [catalog, repo('x', 'push')]));
});

test('replace() swaps the rules for later decisions', () => {
  const p = policy([{ accounts: ['*'], repositories: ['**'], actions: ['pull'] }]);
  assert.ok(p.allows('a', repo('x', 'pull')));
  p.replace({ groups: { g: ['a'] }, rules: [{ accounts: ['group:g'], repositories: ['y'], actions: ['push'] }] });
  assert.ok(!p.allows('a', repo('x', 'pull')));
  assert.ok(p.allows('a', repo('y', 'push')));
});

const req = (authorization?: string) =>
  ({ headers: authorization ? { authorization } : {}, socket: {} }) as unknown as IncomingMessage;

test('withPolicy: the method names the caller, the rules decide; authenticated but not allowed is 403 DENIED', async () => {
  const p = policy([
    { accounts: ['anonymous'], repositories: ['public/*'], actions: ['pull'] },
    { accounts: ['silly'], repositories: ['mine/*'], actions: ['*'] },
  ]);
  const auth = withPolicy(sillyAccess({ realm: 'r', service: 's' }), p);
  assert.equal(auth.readsAll, false, 'rules mean no caller reads everything');
  assert.deepEqual(await auth.authorize(req('x'), [repo('mine/a', 'push')]), { granted: true, user: 'silly' });
  const denied = await auth.authorize(req('x'), [repo('public/a', 'push')]);
  assert.equal(denied.granted, false);
  assert.equal(!denied.granted && denied.code, 'DENIED');
  assert.deepEqual(!denied.granted && denied.detail, [
    { Type: 'repository', Class: '', Name: 'public/a', Action: 'push' },
  ]);
  // No credentials: anonymous access where the rules allow it, else the method's challenge (to log in).
  assert.deepEqual(await auth.authorize(req(), [repo('public/a', 'pull')]), { granted: true });
  const challenged = await auth.authorize(req(), [repo('mine/a', 'pull')]);
  assert.equal(!challenged.granted && challenged.code, 'UNAUTHORIZED');
  assert.match(
    !challenged.granted ? challenged.headers['WWW-Authenticate'] : '',
    /^Bearer realm="r",service="s",scope=/,
  );
  // The base endpoint needs no access: any authenticated caller passes.
  assert.equal((await auth.authorize(req('x'), [])).granted, true);
});

test('withPolicy over no auth: every caller is anonymous', async () => {
  const auth = withPolicy(
    openAccess,
    policy([{ accounts: ['anonymous'], repositories: ['open/**'], actions: ['pull'] }]),
  );
  assert.equal((await auth.authorize(req(), [repo('open/x', 'pull')])).granted, true);
  const r = await auth.authorize(req('Basic whatever'), [repo('closed/x', 'pull')]);
  assert.equal(!r.granted && r.code, 'DENIED');
});
