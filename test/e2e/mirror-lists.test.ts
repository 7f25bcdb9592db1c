/**
 * Lists on a mirror, in front of another wharf (through a counting HTTP proxy that can play an outage): the tags
 * list is the upstream's (as Distribution's proxy answers), paginated with `n`/`last`, behind the mirror's own
 * access rules, and the cached tags (with a warning and a metric) when the upstream is down.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { basic, USERS, writeUsers } from './access.js';
import { assertError, call } from './api.js';
import { freePort, startWharf, type Wharf } from './harness.js';
import { countingProxy, debugHttp, pushImage, startMirror, type CountingProxy } from './mirror-helpers.js';
import { metric, scrape } from './ops.js';

describe('pull-through cache: tags lists', () => {
  let up: Wharf;
  let counter: CountingProxy;
  let mirror: Wharf;
  let debug: string;
  let dir: string;
  const TAGS = ['1.0', '1.1', '2.0', 'beta', 'latest'];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-mirror-lists-'));
    writeUsers(join(dir, 'users'), USERS);
    up = await startWharf();
    for (const t of TAGS) await pushImage(up.url, 'team/app', t, Buffer.from(`layer of ${t}`), t);
    counter = await countingProxy(up.url);
    const port = await freePort();
    debug = `http://127.0.0.1:${port}`;
    mirror = await startMirror(
      `proxy:\n  remoteurl: ${counter.url}\n  timeout: 5s\nauth:\n  htpasswd: { realm: mirror, path: ${join(dir, 'users')} }\naccess:\n  rules:\n    - { accounts: [alice], repositories: ["**"], actions: [pull] }\n    - { accounts: [bob], repositories: ["other/**"], actions: [pull] }\n`,
      { http: debugHttp(port) },
    );
  });

  after(async () => {
    await mirror?.cleanup();
    await counter?.close();
    await up?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const tags = async (query = '', who: 'alice' | 'bob' = 'alice') => {
    const r = await call(mirror.url, `/v2/team/app/tags/list${query}`, { headers: basic(who, USERS[who]) });
    return {
      status: r.status,
      link: r.headers.get('link'),
      body: r.status === 200 ? (JSON.parse(r.text) as { name: string; tags: string[] }) : null,
      r,
    };
  };

  test("the tags list is the upstream's, before anything is cached, paginated with n and last", async () => {
    const all = await tags();
    assert.equal(all.status, 200);
    assert.deepEqual(all.body, { name: 'team/app', tags: TAGS });
    assert.ok(counter.count(/^GET \/v2\/team\/app\/tags\/list$/) >= 1, 'the upstream was not asked');
    const first = await tags('?n=2');
    assert.deepEqual(first.body?.tags, ['1.0', '1.1']);
    assert.match(first.link ?? '', /<\/v2\/team\/app\/tags\/list\?.*last=1\.1.*>; rel="next"/);
    const rest = await tags('?n=10&last=1.1');
    assert.deepEqual(rest.body?.tags, ['2.0', 'beta', 'latest']);
    assert.equal(rest.link, null);
  });

  test('access rules apply: an account without pull access on the name is refused, whatever the upstream holds', async () => {
    assertError((await tags('', 'bob')).r, 403, 'DENIED');
    assertError(await call(mirror.url, '/v2/team/app/tags/list'), 401, 'UNAUTHORIZED');
  });

  test('a repository the upstream does not have, with nothing cached, is NAME_UNKNOWN', async () => {
    assertError(
      await call(mirror.url, '/v2/team/none/tags/list', { headers: basic('alice', USERS.alice) }),
      404,
      'NAME_UNKNOWN',
    );
  });

  test('upstream down: the cached tags are served, with a warning and a metric; nothing cached is 503', async () => {
    const m = await call(mirror.url, '/v2/team/app/manifests/1.1', {
      headers: { ...basic('alice', USERS.alice), Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(m.status, 200, m.text);
    counter.mode = 'down';
    try {
      const before = metric(await scrape(`${debug}/metrics`), 'registry_proxy_stale_served_total', {});
      const cached = await tags();
      assert.equal(cached.status, 200);
      assert.deepEqual(cached.body, { name: 'team/app', tags: ['1.1'] });
      assert.match(mirror.output(), /could not list the tags of team\/app; serving the 1 cached tags/);
      assert.equal(metric(await scrape(`${debug}/metrics`), 'registry_proxy_stale_served_total', {}), before + 1);
      assertError(
        await call(mirror.url, '/v2/team/other/tags/list', { headers: basic('alice', USERS.alice) }),
        503,
        'UNAVAILABLE',
      );
    } finally {
      counter.mode = 'up';
    }
    // Back up: the upstream's list again.
    assert.deepEqual((await tags()).body?.tags, TAGS);
  });
});
