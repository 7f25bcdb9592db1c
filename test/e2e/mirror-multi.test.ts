/**
 * One wharf caching two upstreams by prefix, with local repositories beside them: `tok/*` is Debian's
 * `docker-registry` with token auth (tokens from wharf's built-in token server; the mirror's credentials come
 * from a v3-style `exec` credential helper), `wh/*` is another wharf. containerd's `?ns=<host>` picks the upstream
 * for un-prefixed names; a name no upstream claims is a local repository that accepts pushes; and the mirror's
 * own access rules decide who may pull through which upstream (the name as the client sees it).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { basic, EXAMPLE_RULES, USERS, writeUsers } from './access.js';
import { assertError, call } from './api.js';
import {
  DOCKER_REGISTRY_BIN,
  DOCKER_REGISTRY_MISSING,
  startDistributionWithAuth,
  type RunningDistribution,
} from './authcompat.js';
import { startWharf, testConfig, type Wharf } from './harness.js';
import { pushImage, pushLayout, sha256 } from './mirror-helpers.js';
import { LayoutReader, OciLayout, type BuiltImage } from './ocilayout.js';
import { copy, SKOPEO, SKOPEO_MISSING } from './skopeo.js';

const SERVICE = 'wharf';
const ISSUER = 'wharf-issuer';
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';

describe(
  'pull-through cache of two upstreams by prefix and ns=, with local repositories',
  { skip: !DOCKER_REGISTRY_BIN ? DOCKER_REGISTRY_MISSING : !SKOPEO ? SKOPEO_MISSING : false },
  () => {
    let dir: string;
    let tokens: Wharf;
    let tokUp: RunningDistribution;
    let whUp: Wharf;
    let mirror: Wharf;
    let mhost: string;
    let img: BuiltImage;
    let whImage: Awaited<ReturnType<typeof pushImage>>;
    const alice = `alice:${USERS.alice}`;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-mirror-multi-'));
      writeUsers(join(dir, 'users'), USERS);
      tokens = await startWharf({
        dir: mkdtempSync(join(dir, 'ts-')),
        config: `version: 0.1\nlog:\n  level: warn\nstorage:\n  inmemory: {}\nhttp:\n  addr: 127.0.0.1:{{port}}\nauth:\n  htpasswd: { realm: wharf, path: ${join(dir, 'users')} }\ntokenserver: { issuer: ${ISSUER}, service: ${SERVICE}, htpasswd: ${join(dir, 'users')}, key: {{dir}}/token.key, certificate: {{dir}}/token.crt }\n${EXAMPLE_RULES}`,
      });
      tokUp = await startDistributionWithAuth(
        `  token:\n    realm: ${tokens.url}/auth/token\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n    rootcertbundle: ${join(tokens.dir, 'token.crt')}\n`,
      );
      const layout = new OciLayout(join(dir, 'layout'));
      img = layout.image('tok', { os: 'linux', architecture: 'amd64' }, 1);
      layout.tag('v1', img.manifest);
      await pushLayout(layout.dir, 'v1', tokUp.url.replace('http://', ''), 'alice/app', alice);
      whUp = await startWharf();
      whImage = await pushImage(whUp.url, 'lib/tool', 'v1', Buffer.from('wharf upstream layer'.repeat(100)), 'wh');

      // The helper answers bob's credentials for any host, and records which hosts it was asked about.
      const helper = join(dir, 'docker-credential-test');
      writeFileSync(
        helper,
        `#!/bin/sh\n[ "$1" = get ] || exit 2\nread host\necho "$host" >> ${join(dir, 'helper.log')}\nprintf '{"ServerURL":"%s","Username":"bob","Secret":"${USERS.bob}"}' "$host"\n`,
      );
      chmodSync(helper, 0o755);
      mirror = await startWharf({
        dir: mkdtempSync(join(dir, 'mirror-')),
        config: testConfig({
          extra: `proxy:
  upstreams:
    - prefix: tok
      remoteurl: ${tokUp.url}
      exec: { command: ${helper} }
      ns: [tok.example]
    - prefix: wh
      remoteurl: ${whUp.url}
      ttl: 0
auth:
  htpasswd: { realm: mirror, path: ${join(dir, 'users')} }
access:
  rules:
    - { accounts: [alice], repositories: ["**"], actions: [pull, push], catalog: true }
    - { accounts: [bob], repositories: ["wh/**"], actions: [pull] }
`,
        }),
      });
      mhost = `127.0.0.1:${mirror.port}`;
    });

    after(async () => {
      await mirror?.cleanup();
      await whUp?.cleanup();
      await tokUp?.stop();
      await tokens?.cleanup();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const get = (path: string, who: keyof typeof USERS = 'alice', method = 'GET') =>
      call(mirror.url, path, { method, headers: { ...basic(who, USERS[who]), Accept: ACCEPT } });

    test('tok/*: a token-auth docker-registry, through the Bearer flow with the exec helper’s credentials', async () => {
      const out = join(dir, 'pulled-tok');
      await copy(`docker://${mhost}/tok/alice/app:v1`, `oci:${out}:v1`, '--src-creds', alice);
      const r = new LayoutReader(out);
      assert.equal(r.ref('v1').digest, img.manifest.digest);
      for (const l of img.layers) assert.ok(r.blob(l.digest).equals(l.bytes));
      // Asked for the token realm's host (Distribution passes the host it authenticates against).
      assert.match(
        readFileSync(join(dir, 'helper.log'), 'utf8'),
        new RegExp(`^127\\.0\\.0\\.1:${new URL(tokens.url).port}$`, 'm'),
      );
    });

    test('wh/*: another wharf, by prefix; and both upstreams by containerd’s ns= for un-prefixed names', async () => {
      const m = await get('/v2/wh/lib/tool/manifests/v1');
      assert.equal(m.status, 200);
      assert.equal(m.headers.get('docker-content-digest'), whImage.manifest);
      const viaNs = await get(`/v2/lib/tool/manifests/v1?ns=${new URL(whUp.url).host}`);
      assert.equal(viaNs.headers.get('docker-content-digest'), whImage.manifest);
      const blob = await get(`/v2/lib/tool/blobs/${whImage.layer}?ns=${new URL(whUp.url).host}`);
      assert.equal(sha256(blob.body), whImage.layer);
      const tok = await get(`/v2/alice/app/manifests/${img.manifest.digest}?ns=tok.example`);
      assert.equal(tok.status, 200, tok.text);
      // Cached under the prefixed name, whichever way the client asked.
      const cat = JSON.parse((await get('/v2/_catalog')).text) as { repositories: string[] };
      assert.deepEqual(cat.repositories, ['tok/alice/app', 'wh/lib/tool']);
    });

    test('a repository no upstream claims is local: pushes are accepted there, refused (405) on proxied names', async () => {
      const layout = new OciLayout(join(dir, 'local-layout'));
      const local = layout.image('local');
      layout.tag('v1', local.manifest);
      await copy(`oci:${layout.dir}:v1`, `docker://${mhost}/alice/local:v1`, '--dest-creds', alice);
      assert.equal(
        (await get('/v2/alice/local/manifests/v1')).headers.get('docker-content-digest'),
        local.manifest.digest,
      );
      assertError(
        await call(mirror.url, '/v2/wh/lib/tool/blobs/uploads/', {
          method: 'POST',
          headers: basic('alice', USERS.alice),
        }),
        405,
        'UNSUPPORTED',
      );
      assertError(
        await call(mirror.url, '/v2/lib/tool/blobs/uploads/?ns=tok.example', {
          method: 'POST',
          headers: basic('alice', USERS.alice),
        }),
        405,
        'UNSUPPORTED',
      );
    });

    test('access rules decide who pulls through which upstream', async () => {
      assert.equal((await get('/v2/wh/lib/tool/manifests/v1', 'bob')).status, 200);
      assertError(await get('/v2/tok/alice/app/manifests/v1', 'bob'), 403, 'DENIED');
      assertError(await call(mirror.url, '/v2/wh/lib/tool/manifests/v1'), 401, 'UNAUTHORIZED');
    });
  },
);
