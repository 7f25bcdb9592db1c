/**
 * wharf's token server in front of CNCF Distribution: `docker-registry serve` (Debian's 2.8) with `auth.token`
 * whose realm is the token server of a wharf process on another port and whose `rootcertbundle` is the
 * certificate wharf generated. Proves that the tokens wharf issues (ES256, x5c + libtrust kid) verify in
 * Distribution, that the access rules reach Distribution through the `access` claim (skopeo pushes as alice to
 * alice/app, bob pulls it, alice cannot push to bob/app), and that a token scoped to one repository is refused
 * by Distribution for another user's repository.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { basic, EXAMPLE_RULES, USERS, writeUsers } from './access.js';
import {
  DOCKER_REGISTRY_BIN,
  DOCKER_REGISTRY_MISSING,
  startDistributionWithAuth,
  type RunningDistribution,
} from './authcompat.js';
import { startWharf, type Wharf } from './harness.js';
import { LayoutReader, OciLayout, type BuiltImage } from './ocilayout.js';
import { copy, SKOPEO, SKOPEO_MISSING, skopeo } from './skopeo.js';

const SERVICE = 'wharf';
const ISSUER = 'wharf-issuer';

async function token(url: string, scope: string, who?: keyof typeof USERS): Promise<string> {
  const r = await fetch(`${url}/auth/token?service=${SERVICE}&scope=${encodeURIComponent(scope)}`, {
    headers: who ? basic(who, USERS[who]) : {},
  });
  assert.equal(r.status, 200);
  return ((await r.json()) as { token: string }).token;
}

describe(
  'docker-registry (Distribution) trusting the tokens of wharf’s token server',
  { skip: !DOCKER_REGISTRY_BIN ? DOCKER_REGISTRY_MISSING : !SKOPEO ? SKOPEO_MISSING : false },
  () => {
    let w: Wharf;
    let d: RunningDistribution;
    let dir: string;
    let work: string;
    let host: string;
    let img: BuiltImage;
    let layout: OciLayout;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-tokensrv-dist-'));
      writeUsers(join(dir, 'users'), USERS);
      // wharf's own registry side is irrelevant here (htpasswd keeps it closed); its token server is what counts.
      w = await startWharf({
        dir,
        config: `version: 0.1
log:
  level: info
storage:
  inmemory: {}
http:
  addr: 127.0.0.1:{{port}}
auth:
  htpasswd: { realm: wharf, path: {{dir}}/users }
tokenserver: { issuer: ${ISSUER}, service: ${SERVICE}, htpasswd: {{dir}}/users, key: {{dir}}/token.key, certificate: {{dir}}/token.crt }
${EXAMPLE_RULES}`,
      });
      d = await startDistributionWithAuth(
        `  token:\n    realm: ${w.url}/auth/token\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n    rootcertbundle: ${join(dir, 'token.crt')}\n`,
      );
      host = d.url.replace('http://', '');
      work = mkdtempSync(join(tmpdir(), 'wharf-e2e-tokensrv-dist-work-'));
      layout = new OciLayout(join(work, 'layout'));
      img = layout.image('distribution', { os: 'linux', architecture: 'amd64' }, 1);
      layout.tag('v1', img.manifest);
    });

    after(async () => {
      await d?.stop();
      await w?.cleanup();
      // Also when wharf failed to start (cleanup() removes it otherwise).
      if (dir) rmSync(dir, { recursive: true, force: true });
      if (work) rmSync(work, { recursive: true, force: true });
    });

    test('docker-registry challenges with wharf’s realm', async () => {
      const r = await fetch(`${d.url}/v2/alice/app/tags/list`);
      await r.arrayBuffer();
      assert.equal(r.status, 401);
      assert.equal(
        r.headers.get('www-authenticate'),
        `Bearer realm="${w.url}/auth/token",service="${SERVICE}",scope="repository:alice/app:pull"`,
      );
    });

    test('skopeo pushes as alice to alice/app and bob pulls it, with tokens issued by wharf', async () => {
      await copy(`oci:${layout.dir}:v1`, `docker://${host}/alice/app:v1`, '--dest-creds', `alice:${USERS.alice}`);
      const out = join(work, 'bob');
      await copy(`docker://${host}/alice/app:v1`, `oci:${out}:v1`, '--src-creds', `bob:${USERS.bob}`);
      const pulled = new LayoutReader(out);
      assert.equal(pulled.ref('v1').digest, img.manifest.digest);
      for (const l of img.layers) assert.deepEqual(pulled.blob(l.digest), l.bytes);
      assert.match(w.output(), /msg="tokenserver: issued token" user=alice granted=.*repository:alice\/app:pull,push/);
    });

    test('skopeo as alice cannot push to bob/app: wharf grants her pull only, and docker-registry refuses the push', async () => {
      const r = await skopeo([
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        `alice:${USERS.alice}`,
        `oci:${layout.dir}:v1`,
        `docker://${host}/bob/app:v1`,
      ]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /unauthorized|denied|authentication required/i);
      const tags = await fetch(`${d.url}/v2/bob/app/tags/list`, {
        headers: { Authorization: `Bearer ${await token(w.url, 'repository:bob/app:pull', 'bob')}` },
      });
      assert.equal(tags.status, 404, 'nothing was pushed to bob/app');
      await tags.arrayBuffer();
    });

    test("a token for one's own repository is refused for another user's repository (401 insufficient_scope)", async () => {
      const alices = await token(w.url, 'repository:alice/app:pull,push', 'alice');
      const own = await fetch(`${d.url}/v2/alice/app/blobs/uploads/`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${alices}` },
      });
      await own.arrayBuffer();
      assert.equal(own.status, 202);
      for (const [method, path] of [
        ['POST', '/v2/bob/app/blobs/uploads/'],
        ['GET', '/v2/bob/app/tags/list'],
      ]) {
        const r = await fetch(d.url + path, { method, headers: { Authorization: `Bearer ${alices}` } });
        await r.arrayBuffer();
        assert.equal(r.status, 401, `${method} ${path}`);
        assert.match(r.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
      }
      // Asking wharf for push on bob/app as alice yields a token without it: refused all the same.
      const asked = await token(w.url, 'repository:bob/app:pull,push', 'alice');
      const r = await fetch(`${d.url}/v2/bob/app/blobs/uploads/`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${asked}` },
      });
      await r.arrayBuffer();
      assert.equal(r.status, 401);
    });

    test('an anonymous token from wharf pulls public/** from docker-registry, and nothing else', async () => {
      await copy(`oci:${layout.dir}:v1`, `docker://${host}/public/base:v1`, '--dest-creds', `carol:${USERS.carol}`);
      const anon = await token(w.url, 'repository:public/base:pull');
      const r = await fetch(`${d.url}/v2/public/base/tags/list`, { headers: { Authorization: `Bearer ${anon}` } });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { name: 'public/base', tags: ['v1'] });
      const other = await fetch(`${d.url}/v2/alice/app/tags/list`, {
        headers: { Authorization: `Bearer ${await token(w.url, 'repository:alice/app:pull')}` },
      });
      await other.arrayBuffer();
      assert.equal(other.status, 401);
    });
  },
);
