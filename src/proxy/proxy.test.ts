/** Unit tests of the pure parts of the pull-through cache: config mapping, routing, challenges, realms, credentials. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../config/load.js';
import { parseChallenges } from './challenge.js';
import { realmAllowed } from './client.js';
import { DEFAULT_TTL_MS, upstreamsOf } from './config.js';
import { execCredentials } from './credentials.js';
import { ProxyRouter } from './router.js';
import { nextLink } from './tags.js';

const parse = (proxy: string) => parseConfig(`version: 0.1\nstorage: inmemory\nproxy:\n${proxy}`, 'test');

test('Distribution keys: remoteurl alone is one upstream for every name, ttl 168h by default, 0 = never', () => {
  const [hub] = upstreamsOf(parse('  remoteurl: https://registry-1.docker.io\n').config.proxy!);
  assert.equal(hub.prefix, '');
  assert.equal(hub.ttlMs, DEFAULT_TTL_MS);
  assert.equal(hub.dockerHub, true);
  assert.deepEqual(hub.ns, ['registry-1.docker.io', 'docker.io']);
  assert.equal(upstreamsOf(parse('  remoteurl: https://r.example\n  ttl: 0\n').config.proxy!)[0].ttlMs, null);
  assert.equal(
    upstreamsOf(
      parse('  remoteurl: https://r.example\n  ttl: 2h\n  exec:\n    command: docker-credential-x\n    lifetime: 1m\n')
        .config.proxy!,
    )[0].exec?.lifetimeMs,
    60_000,
  );
});

test('config errors name the key: no upstream, bad URL, duplicate or overlapping prefixes; unknown keys warn', () => {
  assert.throws(() => parse('  ttl: 1h\n'), /proxy\.remoteurl/);
  assert.throws(() => parse('  remoteurl: registry-1.docker.io\n'), /proxy\.remoteurl: must be an http/);
  assert.throws(
    () => parse('  upstreams:\n    - { prefix: a, remoteurl: http://a }\n    - { prefix: a/b, remoteurl: http://b }\n'),
    /proxy\.upstreams\.1\.prefix: prefix "a\/b" overlaps "a"/,
  );
  assert.throws(
    () => parse('  upstreams:\n    - { prefix: "Hub", remoteurl: http://a }\n'),
    /proxy\.upstreams\.0\.prefix/,
  );
  assert.deepEqual(parse('  remoteurl: http://a\n  colour: blue\n').warnings, ['proxy.colour: unknown key, ignored']);
});

test('routing: prefixes first, then ns=, then the short form; library/ for single names on Docker Hub only', () => {
  const ups = upstreamsOf(
    parse(
      '  remoteurl: https://registry-1.docker.io\n  upstreams:\n    - { prefix: ghcr, remoteurl: https://ghcr.io }\n    - { prefix: q, remoteurl: https://quay.io, ns: [quay.io] }\n',
    ).config.proxy!,
  ).map((spec) => ({ spec }));
  const r = new ProxyRouter(ups);
  assert.equal(r.mirrorOnly, true);
  const at = (name: string, ns?: string) => {
    const x = r.route(name, ns);
    return x && x !== 'unknown' ? [x.upstream.spec.label, x.local, x.remote] : x;
  };
  assert.deepEqual(at('alpine'), ['registry-1.docker.io', 'alpine', 'library/alpine']);
  assert.deepEqual(at('library/alpine'), ['registry-1.docker.io', 'library/alpine', 'library/alpine']);
  assert.deepEqual(at('ghcr/owner/tool'), ['ghcr', 'ghcr/owner/tool', 'owner/tool']);
  assert.deepEqual(at('ghcr/tool'), ['ghcr', 'ghcr/tool', 'tool'], 'no library/ outside Docker Hub');
  assert.deepEqual(at('owner/tool', 'ghcr.io'), ['ghcr', 'ghcr/owner/tool', 'owner/tool']);
  assert.deepEqual(at('alpine', 'docker.io'), ['registry-1.docker.io', 'alpine', 'library/alpine']);
  assert.deepEqual(at('coreos/etcd', 'QUAY.IO'), ['q', 'q/coreos/etcd', 'coreos/etcd']);
  assert.equal(at('x', 'unknown.example'), 'unknown', 'an ns nobody mirrors must not be served from Docker Hub');
  assert.equal(at('ghcr'), 'unknown');
  const local = new ProxyRouter(
    upstreamsOf(
      parse('  upstreams:\n    - { prefix: hub, remoteurl: https://registry-1.docker.io }\n').config.proxy!,
    ).map((spec) => ({ spec })),
  );
  assert.equal(local.mirrorOnly, false);
  assert.equal(local.route('team/app'), null);
  assert.equal(local.route('team/app', 'unknown.example'), null);
  assert.equal((local.route('hub/alpine') as { remote: string }).remote, 'library/alpine');
});

test('WWW-Authenticate: Bearer and Basic challenges with quoted parameters', () => {
  assert.deepEqual(
    parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
    ),
    [
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/alpine:pull',
        },
      },
    ],
  );
  assert.deepEqual(parseChallenges(['Basic realm="Registry Realm"']), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
  ]);
  assert.deepEqual(parseChallenges('Negotiate, Basic realm=x'), [{ scheme: 'basic', params: { realm: 'x' } }]);
  assert.deepEqual(parseChallenges(undefined), []);
});

test('credentials go only to a realm of the upstream’s own host or registrable domain', () => {
  const ok = (a: string, b: string) => realmAllowed(new URL(a), new URL(b));
  assert.equal(ok('https://registry-1.docker.io', 'https://auth.docker.io/token'), true);
  assert.equal(ok('http://127.0.0.1:5000', 'http://127.0.0.1:5001/token'), true);
  assert.equal(ok('https://ghcr.io', 'https://evil.example/token'), false);
  assert.equal(ok('https://a.co.uk', 'https://b.co.uk/token'), false);
  assert.equal(ok('https://r.corp.co.uk', 'https://auth.corp.co.uk/token'), true);
  assert.equal(ok('http://10.0.0.1', 'http://10.0.0.2/token'), false);
});

test('exec helper answers are kept for their lifetime: unset = once, 0 = every time', async () => {
  for (const [lifetime, calls] of [
    [undefined, 1],
    [0, 3],
    [60_000, 1],
  ] as const) {
    let n = 0;
    const c = execCredentials('helper', lifetime, async (_cmd, host) => {
      n++;
      return { username: 'u', password: host };
    });
    for (let i = 0; i < 3; i++) assert.deepEqual(await c.get('r.example'), { username: 'u', password: 'r.example' });
    assert.equal(n, calls, `lifetime ${lifetime}`);
  }
});

test('tags list pagination upstream: the rel="next" target of a Link header, whatever its quoting', () => {
  assert.equal(nextLink('</v2/a/tags/list?last=b&n=100>; rel="next"'), '/v2/a/tags/list?last=b&n=100');
  assert.equal(
    nextLink(['<https://r.example/v2/a/tags/list?n=2&last=x>;rel=next']),
    'https://r.example/v2/a/tags/list?n=2&last=x',
  );
  assert.equal(nextLink('</v2/a/tags/list?last=b>; rel="prev"'), null);
  assert.equal(nextLink(undefined), null);
});
