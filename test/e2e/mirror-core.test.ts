/**
 * wharf as Distribution's pull-through cache: `proxy.remoteurl` + `username`/`password` in front of Debian's
 * `docker-registry` with htpasswd (through a counting HTTP proxy). skopeo and podman pull an index with two
 * platforms through the mirror and get the upstream's digests; a second pull asks the upstream nothing; the
 * catalog and tags list show the cached repository; pushes and deletes answer 405 UNSUPPORTED as Distribution's
 * mirror does.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertError, call } from './api.js';
import { DOCKER_REGISTRY_BIN, DOCKER_REGISTRY_MISSING, startDistribution, type Distribution } from './distribution.js';
import type { Wharf } from './harness.js';
import { countingProxy, getManifest, pushLayout, startMirror, type CountingProxy } from './mirror-helpers.js';
import { LayoutReader, OciLayout, type BuiltIndex } from './ocilayout.js';
import { copy, onPath, run, SKOPEO, SKOPEO_MISSING } from './skopeo.js';

const HTPASSWD = onPath('htpasswd');
const PODMAN = onPath('podman');
const USER = 'mirror';
const PASSWORD = 'mirror-Pa55';

describe(
  'pull-through cache of a docker-registry with htpasswd (Distribution keys)',
  {
    skip: !DOCKER_REGISTRY_BIN
      ? DOCKER_REGISTRY_MISSING
      : !SKOPEO
        ? SKOPEO_MISSING
        : !HTPASSWD
          ? 'htpasswd is not on PATH (apt-get install apache2-utils)'
          : false,
  },
  () => {
    let work: string;
    let up: Distribution;
    let counter: CountingProxy;
    let mirror: Wharf;
    let built: BuiltIndex;
    let mhost: string;

    before(async () => {
      work = mkdtempSync(join(tmpdir(), 'wharf-e2e-mirror-core-'));
      execFileSync(HTPASSWD!, ['-Bbc', join(work, 'htpasswd'), USER, PASSWORD]);
      up = await startDistribution(
        join(work, 'upstream'),
        `auth:\n  htpasswd:\n    realm: upstream\n    path: ${join(work, 'htpasswd')}\n`,
      );
      const layout = new OciLayout(join(work, 'layout'));
      built = layout.index([
        layout.image('amd', { os: 'linux', architecture: 'amd64' }, 1),
        layout.image('arm', { os: 'linux', architecture: 'arm64' }),
      ]);
      layout.tag('v1', built.index);
      await pushLayout(layout.dir, 'v1', up.host, 'team/app', `${USER}:${PASSWORD}`);
      counter = await countingProxy(up.url);
      mirror = await startMirror(`proxy:\n  remoteurl: ${counter.url}\n  username: ${USER}\n  password: ${PASSWORD}\n`);
      mhost = `127.0.0.1:${mirror.port}`;
    });

    after(async () => {
      await mirror?.cleanup();
      await counter?.close();
      await up?.stop('SIGKILL');
      if (work) rmSync(work, { recursive: true, force: true });
    });

    test('skopeo pulls the index and both platforms through the mirror, with the upstream digests', async () => {
      const out = join(work, 'pulled');
      await copy(`docker://${mhost}/team/app:v1`, `oci:${out}:v1`, '--all');
      const r = new LayoutReader(out);
      assert.equal(r.ref('v1').digest, built.index.digest);
      for (const img of built.images) {
        assert.equal(JSON.parse(r.blob(img.manifest.digest).toString()).config.digest, img.config.digest);
        for (const l of img.layers) assert.ok(r.blob(l.digest).equals(l.bytes), `layer ${l.digest} differs`);
      }
      // Each manifest and blob came from the upstream once (plus the 401s of the Basic challenge).
      for (const img of built.images)
        for (const l of img.layers) assert.equal(counter.count(new RegExp(`^GET .*/blobs/${l.digest}$`)), 1);
    });

    test('a second pull asks the upstream nothing: served from the cache', async () => {
      const before = counter.requests.length;
      const out = join(work, 'pulled-again');
      await copy(`docker://${mhost}/team/app:v1`, `oci:${out}:v1`, '--all');
      assert.equal(new LayoutReader(out).ref('v1').digest, built.index.digest);
      assert.deepEqual(counter.requests.slice(before), []);
      const m = await getManifest(mirror.url, 'team/app', built.images[1].manifest.digest);
      assert.equal(m.status, 200);
      assert.equal(m.digest, built.images[1].manifest.digest);
    });

    test('the catalog and the tags list show the cached repository', async () => {
      const cat = await call(mirror.url, '/v2/_catalog');
      assert.deepEqual(JSON.parse(cat.text).repositories, ['team/app']);
      const tags = await call(mirror.url, '/v2/team/app/tags/list');
      assert.deepEqual(JSON.parse(tags.text), { name: 'team/app', tags: ['v1'] });
      // The web UI marks it as a cache and names its upstream.
      const ui = JSON.parse((await call(mirror.url, '/_ui/api/repositories')).text) as {
        repositories: Array<{ name: string; cachedFrom: string | null }>;
      };
      assert.deepEqual(
        ui.repositories.map((r) => [r.name, r.cachedFrom]),
        [['team/app', counter.url]],
      );
      const uiTags = JSON.parse((await call(mirror.url, '/_ui/api/tags?repository=team/app')).text) as {
        cachedFrom: string | null;
        mayDelete: boolean;
      };
      assert.equal(uiTags.cachedFrom, counter.url);
    });

    test('pushes and deletes answer 405 UNSUPPORTED, as Distribution mirrors do', async () => {
      assertError(await call(mirror.url, '/v2/team/app/blobs/uploads/', { method: 'POST' }), 405, 'UNSUPPORTED');
      assertError(await call(mirror.url, '/v2/other/blobs/uploads/', { method: 'POST' }), 405, 'UNSUPPORTED');
      assertError(
        await call(mirror.url, '/v2/team/app/manifests/v2', {
          method: 'PUT',
          body: '{}',
          headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        }),
        405,
        'UNSUPPORTED',
      );
      assertError(
        await call(mirror.url, `/v2/team/app/manifests/${built.index.digest}`, { method: 'DELETE' }),
        405,
        'UNSUPPORTED',
      );
      assertError(
        await call(mirror.url, `/v2/team/app/blobs/${built.images[0].layers[0].digest}`, { method: 'DELETE' }),
        405,
        'UNSUPPORTED',
      );
      assert.equal((await getManifest(mirror.url, 'team/app', 'v1')).status, 200, 'the refused delete removed nothing');
    });

    test('a manifest or blob the upstream does not have is MANIFEST_UNKNOWN / BLOB_UNKNOWN', async () => {
      assertError(await call(mirror.url, '/v2/team/app/manifests/nope'), 404, 'MANIFEST_UNKNOWN');
      assertError(await call(mirror.url, `/v2/team/app/blobs/sha256:${'0'.repeat(64)}`), 404, 'BLOB_UNKNOWN');
    });

    test(
      'podman pulls the image through the mirror',
      { skip: PODMAN ? false : 'podman is not on PATH (CI installs it; apt-get install podman)' },
      async () => {
        const pw = join(work, 'podman');
        const conf = join(work, 'registries.conf');
        writeFileSync(conf, '');
        const env = { ...process.env, CONTAINERS_REGISTRIES_CONF: conf, REGISTRIES_CONFIG_PATH: conf };
        const podman = async (args: string[]) => {
          const r = await run(
            PODMAN!,
            [
              '--root',
              join(pw, 'root'),
              '--runroot',
              join(pw, 'runroot'),
              '--storage-driver',
              'vfs',
              '--cgroup-manager=cgroupfs',
              '--events-backend=file',
              ...args,
            ],
            300_000,
            env,
          );
          if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
          return r.stdout;
        };
        await podman(['pull', '--tls-verify=false', '--arch', 'arm64', `${mhost}/team/app:v1`]);
        const digest = (await podman(['image', 'inspect', '--format', '{{.Digest}}', `${mhost}/team/app:v1`])).trim();
        // podman records the digest it pulled by: the index's.
        assert.equal(digest, built.index.digest);
      },
    );
  },
);
