/**
 * The container image, built from the unmodified Containerfile on a Debian trixie base made by mmdebstrap (see
 * container.ts), run with the real podman, and walked through registry:2's tutorial: push and pull with skopeo,
 * `wharf htpasswd` inside the container, a new config.yml with `auth.htpasswd` applied by `podman restart`, curl
 * with and without credentials, login/push/pull with them, a SIGHUP reload after adding a user, a SIGTERM drain of
 * an upload in flight, a data directory Debian's docker-registry wrote served as is, the processes unprivileged,
 * the health check healthy. Containers use the host network and listen on free ports set by REGISTRY_HTTP_ADDR.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildImage, imageSkipReason, REPO_ROOT, type BuiltImage, type Podman } from './container.js';
import { DOCKER_REGISTRY_BIN, DOCKER_REGISTRY_MISSING, startDistribution } from './distribution.js';
import { freePort, sha256 } from './harness.js';
import { OciLayout } from './ocilayout.js';
import { eventually, metric, refused, scrape, slowRequest } from './ops.js';
import { copy, onPath, run, SKOPEO, SKOPEO_MISSING, skopeoOk } from './skopeo.js';

const CURL = onPath('curl');
const SKIP =
  imageSkipReason() ||
  (SKOPEO ? false : SKOPEO_MISSING) ||
  (CURL ? false : 'curl is not on PATH (CI installs it; apt-get install curl)');
const MIB = 1024 * 1024;
const WHARF_UID = 5000;
const UNAUTHORIZED_BASE = '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n';
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};

describe('the container image', { skip: SKIP }, () => {
  let img: BuiltImage;
  let podman: Podman;
  let work: string;
  const containers: string[] = [];
  const suffix = randomBytes(4).toString('hex');

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-container-'));
    img = await buildImage();
    podman = img.podman;
  });

  after(async () => {
    for (const c of containers) await podman?.run(['rm', '-f', '-t', '0', c]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** `podman run -d` on the host network, listening on a free port; resolves when /v2/ answers. */
  async function start(
    name: string,
    mounts: string[],
    extra: string[] = [],
  ): Promise<{ name: string; port: number; url: string; ms: number }> {
    const port = await freePort();
    const full = `wharf-e2e-${name}-${suffix}`;
    containers.push(full);
    const t0 = Date.now();
    await podman.ok([
      'run',
      '-d',
      '--name',
      full,
      '--network',
      'host',
      '-e',
      `REGISTRY_HTTP_ADDR=127.0.0.1:${port}`,
      ...mounts.flatMap((m) => ['-v', m]),
      ...extra,
      img.id,
    ]);
    const url = `http://127.0.0.1:${port}`;
    await ready(full, url);
    return { name: full, port, url, ms: Date.now() - t0 };
  }

  async function ready(name: string, url: string): Promise<void> {
    const up = await eventually(
      async () => {
        try {
          await (await fetch(`${url}/v2/`)).arrayBuffer();
          return true;
        } catch {
          return false;
        }
      },
      60_000,
      100,
    );
    assert.ok(up, `the container never answered on ${url}:\n${await podman.logs(name)}`);
  }

  /** The `/proc/<pid>/status` fields of a process in the container. */
  async function procStatus(name: string, pid: string): Promise<Record<string, string>> {
    const text = await podman.ok(['exec', name, 'cat', `/proc/${pid}/status`]);
    return Object.fromEntries(
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(/:\s+/, 2) as [string, string]),
    );
  }

  async function curl(url: string): Promise<{ status: number; body: string }> {
    const r = await run(CURL!, ['-s', '-o', '-', '-w', '\n%{http_code}', url]);
    const i = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
  }

  test('the image: labels, registry:2 conventions, health check, size', async (t) => {
    t.diagnostic(`base image ${img.seconds.base} s (mmdebstrap + import, 0 when cached), build ${img.seconds.build} s`);
    const labels = await podman.inspect<Record<string, string>>('image', img.id, '.Labels');
    assert.equal(
      labels['org.opencontainers.image.version'],
      pkg.version,
      'ARG VERSION in the Containerfile differs from package.json',
    );
    assert.equal(labels['org.opencontainers.image.licenses'], 'Apache-2.0');
    assert.ok('org.opencontainers.image.source' in labels);
    if (img.revision) assert.equal(labels['org.opencontainers.image.revision'], img.revision);
    const cfg = await podman.inspect<{
      ExposedPorts: Record<string, unknown>;
      Volumes: Record<string, unknown>;
      User?: string;
    }>('image', img.id, '.Config');
    assert.deepEqual(Object.keys(cfg.ExposedPorts), ['5000/tcp']);
    assert.deepEqual(Object.keys(cfg.Volumes), ['/var/lib/registry']);
    // Starts as root (as registry:2 does) only to fix the volume's owner: the entrypoint drops to wharf.
    assert.ok(!cfg.User || cfg.User === 'root' || cfg.User === '0', `image user ${cfg.User}`);
    // Kept only in the docker image format (podman build --format docker, or docker build).
    const health = await podman.inspect<{ Test: string[] } | null>('image', img.id, '.HealthCheck');
    assert.deepEqual(health?.Test, ['CMD', 'node', '/opt/wharf/dist/src/cli/healthcheck.js']);
    const size = await podman.inspect<number>('image', img.id, '.Size');
    t.diagnostic(`image size ${(size / MIB).toFixed(1)} MiB uncompressed`);
    assert.ok(size <= 300 * MIB, `the image is ${(size / MIB).toFixed(1)} MiB, over 300 MiB`);
  });

  let reg: { name: string; port: number; url: string; ms: number };
  const data = () => join(work, 'data');
  const conf = () => join(work, 'conf');
  const auth = () => join(work, 'auth');
  let layout: OciLayout;

  test('runs on a root-owned volume with the default config, unprivileged, healthy', async (t) => {
    for (const d of [data(), conf(), auth()]) mkdirSync(d, { mode: 0o755 });
    // registry:2's command line, with the config directory mounted empty (so the image's default applies).
    reg = await start(
      'reg',
      [`${data()}:/var/lib/registry`, `${conf()}:/etc/docker/registry:ro`, `${auth()}:/auth:ro`],
      ['-e', 'REGISTRY_STORAGE_DELETE_ENABLED=true'],
    );
    t.diagnostic(`start-up: podman run -d to /v2/ answering in ${reg.ms} ms`);
    const logs = await podman.logs(reg.name);
    assert.match(logs, /config=\/usr\/share\/wharf\/config\.yml/);
    assert.match(logs, /giving it to wharf/);
    assert.equal(statSync(data()).uid, WHARF_UID, 'the entrypoint did not give the volume to wharf');
    // Every process, PID 1 (tini) included, runs as wharf without capabilities.
    const top = (await podman.ok(['top', reg.name, 'user', 'pid', 'args'])).trim().split('\n').slice(1);
    assert.ok(top.length >= 2 && top.every((l) => l.startsWith('wharf ')), top.join('\n'));
    assert.ok(
      top.some((l) => /^wharf\s+1\s+\/usr\/bin\/tini /.test(l)),
      top.join('\n'),
    );
    const nodePid = top.find((l) => / node /.test(l))!.split(/\s+/)[1];
    for (const pid of ['1', nodePid]) {
      const s = await procStatus(reg.name, pid);
      assert.equal(s.Uid.split(/\s+/)[0], String(WHARF_UID));
      assert.equal(s.CapEff, '0000000000000000');
      assert.equal(s.NoNewPrivs, '1');
    }
    const hc = await podman.run(['healthcheck', 'run', reg.name]);
    assert.equal(hc.code, 0, `health check: ${hc.stdout}${hc.stderr}`);
  });

  test('PID 1 reaps orphans: a process whose parent exited is adopted by tini and gone once it ends', async () => {
    const orphan = (await podman.ok(['exec', reg.name, 'sh', '-c', 'sleep 2 >/dev/null 2>&1 & echo $!'])).trim();
    assert.match(orphan, /^\d+$/);
    assert.equal((await procStatus(reg.name, orphan)).PPid, '1');
    // A zombie keeps its /proc entry (State: Z) until its parent waits for it.
    const reaped = await eventually(
      async () => (await podman.run(['exec', reg.name, 'test', '-e', `/proc/${orphan}`])).code !== 0,
      20_000,
      200,
    );
    assert.ok(reaped, `process ${orphan} was not reaped`);
  });

  test('production dependencies only, each loadable; no dev dependencies, maps or tests', async () => {
    const imports = Object.keys(pkg.dependencies)
      .map((d) => `await import(${JSON.stringify(d)});`)
      .join(' ');
    await podman.ok([
      'exec',
      '-w',
      '/opt/wharf',
      reg.name,
      'node',
      '--input-type=module',
      '-e',
      `await import('reflect-metadata'); ${imports}`,
    ]);
    const found = await podman.ok([
      'exec',
      reg.name,
      'sh',
      '-c',
      'ls /opt/wharf/node_modules; find /opt/wharf -name "*.map" -o -name "*.test.js" -o -name "*.d.ts"',
    ]);
    for (const dev of ['typescript', '@types', 'playwright-core'])
      assert.ok(!found.split('\n').includes(dev), `${dev} is in the image`);
    assert.doesNotMatch(found, /\.(map|test\.js|d\.ts)$/m);
    assert.match(
      await podman.ok(['exec', reg.name, 'wharf', '--version']),
      new RegExp(`^${pkg.version.replaceAll('.', '\\.')}`),
    );
  });

  test('push and pull with skopeo; a REGISTRY_* variable overrides the default config', async () => {
    layout = new OciLayout(join(work, 'layout'));
    const image = layout.image('container');
    layout.tag('v1', image.manifest);
    await copy(`oci:${layout.dir}:v1`, `docker://127.0.0.1:${reg.port}/e2e/app:v1`);
    await copy(`docker://127.0.0.1:${reg.port}/e2e/app:v1`, `oci:${join(work, 'pulled')}:v1`);
    assert.equal(
      sha256(readFileSync(join(work, 'pulled', 'blobs', 'sha256', image.manifest.digest.slice(7)))),
      image.manifest.digest,
    );
    // registry:2's default config leaves deletes off; REGISTRY_STORAGE_DELETE_ENABLED=true turned them on.
    await copy(`oci:${layout.dir}:v1`, `docker://127.0.0.1:${reg.port}/e2e/gone:v1`);
    const del = await fetch(`${reg.url}/v2/e2e/gone/manifests/${image.manifest.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
  });

  let debugPort: number;
  const configYml = (level: string) => `version: 0.1
log:
  level: ${level}
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  draintimeout: 60s
  debug:
    addr: 127.0.0.1:${debugPort}
    prometheus:
      enabled: true
auth:
  htpasswd:
    realm: basic-realm
    path: /auth/htpasswd
`;
  const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

  test('wharf htpasswd in the container, a new config.yml, podman restart: credentials required', async () => {
    debugPort = await freePort();
    const line = (await podman.ok(['exec', reg.name, 'wharf', 'htpasswd', '-Bbn', 'alice', 's3cret'])).trim();
    assert.match(line, /^alice:\$2y\$/);
    writeFileSync(join(auth(), 'htpasswd'), `${line}\n`);
    writeFileSync(join(conf(), 'config.yml'), configYml('info'));
    await podman.ok(['restart', reg.name]);
    await ready(reg.name, reg.url);
    assert.match(await podman.logs(reg.name), /config=\/etc\/docker\/registry\/config\.yml/);
    assert.deepEqual(await curl(`${reg.url}/v2/`), { status: 401, body: UNAUTHORIZED_BASE });
    const ok = await curl(`http://alice:s3cret@127.0.0.1:${reg.port}/v2/_catalog`);
    assert.equal(ok.status, 200);
    assert.ok((JSON.parse(ok.body) as { repositories: string[] }).repositories.includes('e2e/app'));
    assert.equal((await curl(`http://alice:wrong@127.0.0.1:${reg.port}/v2/`)).status, 401);
  });

  test('login, push and pull with credentials', async () => {
    const authfile = join(work, 'auth.json');
    const refusedPush = await run(SKOPEO!, [
      '--insecure-policy',
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout.dir}:v1`,
      `docker://127.0.0.1:${reg.port}/e2e/private:v1`,
    ]);
    assert.notEqual(refusedPush.code, 0);
    await skopeoOk([
      'login',
      '--tls-verify=false',
      '--authfile',
      authfile,
      '-u',
      'alice',
      '-p',
      's3cret',
      `127.0.0.1:${reg.port}`,
    ]);
    await copy(`oci:${layout.dir}:v1`, `docker://127.0.0.1:${reg.port}/e2e/private:v1`, '--authfile', authfile);
    await copy(
      `docker://127.0.0.1:${reg.port}/e2e/private:v1`,
      `oci:${join(work, 'pulled-private')}:v1`,
      '--authfile',
      authfile,
    );
    const index = JSON.parse(readFileSync(join(work, 'pulled-private', 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    assert.equal(
      index.manifests[0].digest,
      (JSON.parse(readFileSync(join(layout.dir, 'index.json'), 'utf8')) as typeof index).manifests[0].digest,
    );
  });

  test('podman kill -s HUP reloads the config and the new user without a restart', async () => {
    const before = await podman.inspect<number>('container', reg.name, '.State.Pid');
    appendFileSync(
      join(auth(), 'htpasswd'),
      await podman.ok(['exec', reg.name, 'wharf', 'htpasswd', '-Bbn', 'bob', 'hunter2']),
    );
    writeFileSync(join(conf(), 'config.yml'), configYml('debug'));
    await podman.ok(['kill', '-s', 'HUP', reg.name]);
    assert.ok(
      await eventually(async () => /SIGHUP: log\.level info -> debug/.test(await podman.logs(reg.name)), 20_000, 200),
      await podman.logs(reg.name),
    );
    assert.ok(
      await eventually(async () => /SIGHUP: reloaded auth\.htpasswd/.test(await podman.logs(reg.name)), 20_000, 200),
    );
    assert.equal((await curl(`http://bob:hunter2@127.0.0.1:${reg.port}/v2/`)).status, 200);
    assert.equal(
      await podman.inspect<number>('container', reg.name, '.State.Pid'),
      before,
      'the container was restarted',
    );
  });

  test('podman stop (SIGTERM) lets an upload in flight finish, then the container exits 0', async () => {
    const headers = { Authorization: basic('alice', 's3cret') };
    const first = Buffer.alloc(64 * 1024, 1);
    const second = Buffer.alloc(32 * 1024, 2);
    const digest = sha256(Buffer.concat([first, second]));
    const post = await fetch(`${reg.url}/v2/e2e/drain/blobs/uploads/`, { method: 'POST', headers });
    await post.arrayBuffer();
    assert.equal(post.status, 202);
    const u = new URL(post.headers.get('location')!, reg.url);
    u.searchParams.set('digest', digest);
    const put = slowRequest(u.href, 'PUT', headers);
    await put.write(first);
    const inFlight = await eventually(
      async () => metric(await scrape(`http://127.0.0.1:${debugPort}/metrics`), 'registry_uploads_in_progress') === 1,
    );
    assert.ok(inFlight, 'the server never saw the upload');
    const stopped = podman.run(['stop', '-t', '60', reg.name], 120_000);
    assert.ok(await eventually(() => refused(reg.port), 20_000), 'new connections were still accepted after SIGTERM');
    await put.write(second);
    put.end();
    const res = await put.response;
    assert.equal(res.status, 201, res.body);
    assert.equal((await stopped).code, 0);
    assert.equal(await podman.inspect<number>('container', reg.name, '.State.ExitCode'), 0);
    assert.match(await podman.logs(reg.name), /SIGTERM received: draining/);
    const blob = readFileSync(
      join(data(), 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data'),
    );
    assert.equal(sha256(blob), digest);
  });

  test('podman start again: the health check (through http.debug.addr) reports healthy', async () => {
    await podman.ok(['start', reg.name]);
    await ready(reg.name, reg.url);
    const hc = await podman.run(['healthcheck', 'run', reg.name]);
    assert.equal(hc.code, 0, `health check: ${hc.stdout}${hc.stderr}`);
  });

  test(
    "a data directory Debian's docker-registry wrote is served as is",
    { skip: DOCKER_REGISTRY_BIN ? false : DOCKER_REGISTRY_MISSING },
    async () => {
      const root = join(work, 'distribution-data');
      mkdirSync(root, { mode: 0o755 });
      const d = await startDistribution(root);
      let pushed: string;
      let tags: string;
      try {
        await copy(`oci:${layout.dir}:v1`, `docker://${d.host}/from/distribution:v1`);
        pushed = (
          JSON.parse(await skopeoOk(['inspect', '--tls-verify=false', `docker://${d.host}/from/distribution:v1`])) as {
            Digest: string;
          }
        ).Digest;
        tags = await (await fetch(`${d.url}/v2/from/distribution/tags/list`)).text();
      } finally {
        await d.stop();
      }
      const c = await start('fromdist', [`${root}:/var/lib/registry`]);
      assert.equal(await (await fetch(`${c.url}/v2/from/distribution/tags/list`)).text(), tags);
      const info = JSON.parse(
        await skopeoOk(['inspect', '--tls-verify=false', `docker://127.0.0.1:${c.port}/from/distribution:v1`]),
      ) as { Digest: string };
      assert.equal(info.Digest, pushed);
      await copy(`docker://127.0.0.1:${c.port}/from/distribution:v1`, `oci:${join(work, 'pulled-dist')}:v1`);
    },
  );

  test("--user: runs as that user on a volume it owns, and changes no ownership; Distribution v3's config path", async () => {
    const own = join(work, 'user-data');
    mkdirSync(own, { mode: 0o755 });
    chownSync(own, 6000, 6000);
    const v3 = join(work, 'distribution-conf');
    mkdirSync(v3);
    writeFileSync(
      join(v3, 'config.yml'),
      'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n',
    );
    const c = await start('user', [`${own}:/var/lib/registry`, `${v3}:/etc/distribution:ro`], ['--user', '6000:6000']);
    assert.match(await podman.logs(c.name), /config=\/etc\/distribution\/config\.yml/);
    await copy(`oci:${layout.dir}:v1`, `docker://127.0.0.1:${c.port}/as/user:v1`);
    assert.equal((await procStatus(c.name, '1')).Uid.split(/\s+/)[0], '6000');
    assert.equal(statSync(join(own, 'docker')).uid, 6000);
    assert.doesNotMatch(await podman.logs(c.name), /giving it to wharf/);
  });

  test('WHARF_RUN_AS_ROOT=1 (rootless podman): neither chown nor drop', async () => {
    const own = join(work, 'root-data');
    mkdirSync(own, { mode: 0o755 });
    const c = await start('root', [`${own}:/var/lib/registry`], ['-e', 'WHARF_RUN_AS_ROOT=1']);
    assert.equal((await procStatus(c.name, '1')).Uid.split(/\s+/)[0], '0');
    await copy(`oci:${layout.dir}:v1`, `docker://127.0.0.1:${c.port}/as/root:v1`);
    assert.equal(statSync(join(own, 'docker')).uid, 0);
  });
});
