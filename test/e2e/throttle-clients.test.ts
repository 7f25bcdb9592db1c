/**
 * Real clients against wharf with htpasswd and the default login throttling, in one run, from one address, as
 * one user: skopeo, podman, buildah, the Docker CLI and containerd's `ctr` each first try a wrong password of
 * their own, then log in, push and pull with the right one. None may ever see a 429: retries of the same wrong
 * password (ctr sends it about ten times, docker tries two endpoints) count once, and each right login forgives
 * the failures before it. Then anonymous skopeo and podman pulls, 30 each, from the same address: empty
 * credentials are a challenge, never a failure, so they never lead to a 429 either.
 *
 * The Docker CLI runs without a daemon (there is none here): `docker login` then logs in from the CLI itself,
 * and `docker manifest inspect` reads from the registry directly; `docker push`/`pull` need dockerd, so the
 * push and pull of that leg are `docker manifest inspect` of what skopeo pushed. ctr needs containerd: the test
 * starts its own, as root, with its root, state, socket and opt directories in a temporary directory.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Wharf } from './harness.js';
import { LayoutReader, OciLayout, type BuiltImage } from './ocilayout.js';
import { onPath, run, SKOPEO, SKOPEO_MISSING, type RunResult } from './skopeo.js';
import { startThrottled } from './throttle.js';

const PODMAN = onPath('podman');
const BUILDAH = onPath('buildah');
const DOCKER = onPath('docker');
const CTR = onPath('ctr');
const CONTAINERD = onPath('containerd');
const USER = 'bob';
const PASSWORD = 'b0b-clients-e2e';
const ACCESS = `access:
  rules:
    - { accounts: [anonymous], repositories: ["public/**"], actions: [pull] }
    - { accounts: ["*"], repositories: ["**"], actions: ["*"], catalog: true }
`;

const ctrSkip =
  !CTR || !CONTAINERD
    ? 'ctr/containerd are not on PATH (CI installs them; apt-get install containerd)'
    : process.getuid?.() !== 0
      ? 'not root: containerd needs root to run'
      : false;

describe(
  'real clients with the default login throttling: a wrong password, then login, push, pull; never a 429',
  { skip: SKOPEO ? false : SKOPEO_MISSING },
  () => {
    let w: Wharf;
    let reg: string;
    let work: string;
    /** podman refuses a runroot longer than 50 characters: runroots live in a short temporary directory. */
    let short: string;
    let env: NodeJS.ProcessEnv;
    let image: BuiltImage;
    let layout: OciLayout;

    before(async () => {
      work = mkdtempSync(join(tmpdir(), 'wharf-e2e-throttle-clients-'));
      short = mkdtempSync(join(tmpdir(), 'wt-'));
      const registriesConf = join(work, 'registries.conf');
      writeFileSync(registriesConf, '');
      writeFileSync(join(work, 'empty-auth.json'), '{}');
      env = {
        ...process.env,
        CONTAINERS_REGISTRIES_CONF: registriesConf,
        REGISTRIES_CONFIG_PATH: registriesConf,
        REGISTRY_AUTH_FILE: join(work, 'auth.json'),
        DOCKER_CONFIG: join(work, 'docker'),
      };
      layout = new OciLayout(join(work, 'layout'));
      image = layout.image('throttle-clients');
      layout.tag('v1', image.manifest);
      w = await startThrottled({ [USER]: PASSWORD }, ACCESS, { accessLog: true });
      reg = `127.0.0.1:${w.port}`;
    });

    after(async () => {
      await w?.cleanup();
      if (work) rmSync(work, { recursive: true, force: true });
      if (short) rmSync(short, { recursive: true, force: true });
    });

    const tool = (bin: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
      run(bin, args, 300_000, { ...env, ...extraEnv });
    async function ok(bin: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
      const r = await tool(bin, args, extraEnv);
      if (r.code !== 0) throw new Error(`${bin} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
      return r.stdout + r.stderr;
    }
    async function refused(bin: string, args: string[]): Promise<void> {
      const r = await tool(bin, args);
      assert.notEqual(r.code, 0, `${bin} ${args.join(' ')} succeeded with a wrong password`);
      assert.match(r.stderr + r.stdout, /401|unauthorized|authentication required|invalid username\/password/i);
      assert.doesNotMatch(r.stderr + r.stdout, /429|too many/i);
    }
    const statuses = () => [...w.output().matchAll(/msg=request .*?status=(\d+)/g)].map((m) => Number(m[1]));

    test('skopeo: wrong password, login, copy to wharf and back', async () => {
      await refused(SKOPEO!, ['login', '--tls-verify=false', '-u', USER, '-p', 'wrong-skopeo', reg]);
      assert.match(
        await ok(SKOPEO!, ['login', '--tls-verify=false', '-u', USER, '-p', PASSWORD, reg]),
        /Login Succeeded/,
      );
      for (const repo of ['clients/skopeo', 'public/base'])
        await ok(SKOPEO!, [
          '--insecure-policy',
          'copy',
          '--dest-tls-verify=false',
          `oci:${layout.dir}:v1`,
          `docker://${reg}/${repo}:v1`,
        ]);
      const out = join(work, 'skopeo-pulled');
      await ok(SKOPEO!, [
        '--insecure-policy',
        'copy',
        '--src-tls-verify=false',
        `docker://${reg}/clients/skopeo:v1`,
        `oci:${out}:v1`,
      ]);
      assert.equal(new LayoutReader(out).ref('v1').digest, image.manifest.digest);
    });

    describe(
      'podman',
      { skip: PODMAN ? false : 'podman is not on PATH (CI installs it; apt-get install podman)' },
      () => {
        const podman = (args: string[]) => [
          '--root',
          join(work, 'podman', 'root'),
          '--runroot',
          join(short, 'p'),
          '--storage-driver',
          'vfs',
          '--cgroup-manager=cgroupfs',
          '--events-backend=file',
          ...args,
        ];

        test('podman: wrong password, login, build, push, rmi, pull', async () => {
          await refused(PODMAN!, podman(['login', '--tls-verify=false', '-u', USER, '-p', 'wrong-podman', reg]));
          assert.match(
            await ok(PODMAN!, podman(['login', '--tls-verify=false', '-u', USER, '-p', PASSWORD, reg])),
            /Login Succeeded/,
          );
          const ctx = join(work, 'podman-context');
          mkdirSync(ctx);
          writeFileSync(join(ctx, 'hello.txt'), 'hello from podman, throttled politely\n');
          writeFileSync(join(ctx, 'Containerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
          const ref = `${reg}/clients/podman:v1`;
          await ok(PODMAN!, podman(['build', '--format', 'oci', '-t', ref, ctx]));
          const digestFile = join(work, 'podman.digest');
          await ok(PODMAN!, podman(['push', '--tls-verify=false', '--digestfile', digestFile, ref]));
          await ok(PODMAN!, podman(['rmi', '-f', ref]));
          await ok(PODMAN!, podman(['pull', '--tls-verify=false', ref]));
          assert.equal(
            (await ok(PODMAN!, podman(['image', 'inspect', '--format', '{{.Digest}}', ref]))).trim(),
            readFileSync(digestFile, 'utf8').trim(),
          );
        });
      },
    );

    describe(
      'buildah',
      { skip: BUILDAH ? false : 'buildah is not on PATH (CI installs it; apt-get install buildah)' },
      () => {
        const buildah = (args: string[]) => [
          '--root',
          join(work, 'buildah', 'root'),
          '--runroot',
          join(short, 'b'),
          '--storage-driver',
          'vfs',
          ...args,
        ];

        test('buildah: push with a wrong password, then with the right one; rmi; pull', async () => {
          const file = join(work, 'buildah.txt');
          writeFileSync(file, 'hello from buildah\n');
          const ctr = (await ok(BUILDAH!, buildah(['from', 'scratch']))).trim().split('\n').pop()!;
          await ok(BUILDAH!, buildah(['copy', ctr, file, '/hello.txt']));
          await ok(BUILDAH!, buildah(['commit', '--format', 'oci', ctr, 'throttle-buildah']));
          const dest = `docker://${reg}/clients/buildah:v1`;
          await refused(
            BUILDAH!,
            buildah([
              'push',
              '--tls-verify=false',
              '--authfile',
              join(work, 'empty-auth.json'),
              '--creds',
              `${USER}:wrong-buildah`,
              'throttle-buildah',
              dest,
            ]),
          );
          const digestFile = join(work, 'buildah.digest');
          await ok(
            BUILDAH!,
            buildah([
              'push',
              '--tls-verify=false',
              '--creds',
              `${USER}:${PASSWORD}`,
              '--digestfile',
              digestFile,
              'throttle-buildah',
              dest,
            ]),
          );
          await ok(BUILDAH!, buildah(['rmi', '-f', 'throttle-buildah']));
          await ok(BUILDAH!, buildah(['pull', '--tls-verify=false', '--creds', `${USER}:${PASSWORD}`, dest]));
          const info = JSON.parse(
            await ok(BUILDAH!, buildah(['inspect', '--type', 'image', `${reg}/clients/buildah:v1`])),
          ) as { FromImageDigest: string };
          assert.equal(info.FromImageDigest, readFileSync(digestFile, 'utf8').trim());
        });
      },
    );

    test(
      'docker CLI (no daemon): wrong password, login, manifest inspect of the pushed image',
      { skip: DOCKER ? false : 'the docker CLI is not on PATH' },
      async () => {
        await refused(DOCKER!, ['login', reg, '-u', USER, '-p', 'wrong-docker']);
        assert.match(await ok(DOCKER!, ['login', reg, '-u', USER, '-p', PASSWORD]), /Login Succeeded/);
        const manifest = JSON.parse(
          await ok(DOCKER!, ['manifest', 'inspect', '--insecure', `${reg}/clients/skopeo:v1`]),
        ) as { layers: Array<{ digest: string }> };
        assert.equal(manifest.layers[0].digest, image.layers[0].digest);
      },
    );

    describe('ctr (containerd)', { skip: ctrSkip }, () => {
      let containerd: ChildProcess | undefined;
      let ctrArgs: string[];

      before(async () => {
        const dir = join(work, 'containerd');
        mkdirSync(dir);
        const sock = join(dir, 'containerd.sock');
        writeFileSync(
          join(dir, 'config.toml'),
          `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${sock}"
[ttrpc]
  address = "${sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
`,
        );
        containerd = spawn(CONTAINERD!, ['--config', join(dir, 'config.toml')], { stdio: 'ignore' });
        ctrArgs = ['--address', sock];
        for (let i = 0; !(existsSync(sock) && (await tool(CTR!, [...ctrArgs, 'version'])).code === 0); i++) {
          if (i > 100) throw new Error('containerd did not start');
          await new Promise((r) => setTimeout(r, 100));
        }
      });

      after(async () => {
        if (containerd && containerd.exitCode === null) {
          const gone = new Promise((r) => containerd!.once('exit', r));
          containerd.kill('SIGTERM');
          await gone;
        }
      });

      test('ctr: push with a wrong password (ctr retries it), then the right one; remove everything; pull', async () => {
        const ref = `${reg}/clients/ctr:v1`;
        const archive = join(work, 'ctr.tar');
        await ok(SKOPEO!, ['--insecure-policy', 'copy', `oci:${layout.dir}:v1`, `oci-archive:${archive}:${ref}`]);
        await ok(CTR!, [...ctrArgs, 'images', 'import', '--no-unpack', archive]);
        await refused(CTR!, [...ctrArgs, 'images', 'push', '--plain-http', '--user', `${USER}:wrong-ctr`, ref]);
        await ok(CTR!, [...ctrArgs, 'images', 'push', '--plain-http', '--user', `${USER}:${PASSWORD}`, ref]);
        await ok(CTR!, [...ctrArgs, 'images', 'rm', ref]);
        const blobs = (await ok(CTR!, [...ctrArgs, 'content', 'ls', '-q'])).trim().split('\n').filter(Boolean);
        if (blobs.length > 0) await ok(CTR!, [...ctrArgs, 'content', 'rm', ...blobs]);
        await refused(CTR!, [...ctrArgs, 'images', 'pull', '--plain-http', '--user', `${USER}:wrong-ctr-again`, ref]);
        await ok(CTR!, [
          ...ctrArgs,
          'images',
          'pull',
          '--plain-http',
          '--snapshotter',
          'native',
          '--user',
          `${USER}:${PASSWORD}`,
          ref,
        ]);
        assert.match(await ok(CTR!, [...ctrArgs, 'images', 'ls']), new RegExp(image.manifest.digest));
      });
    });

    test('no client ever got a 429, and no throttle started', () => {
      const seen = statuses();
      assert.ok(seen.filter((s) => s === 401).length > 0, 'the wrong passwords were refused');
      assert.deepEqual(
        seen.filter((s) => s === 429),
        [],
      );
      assert.doesNotMatch(w.output(), /login throttling:/);
    });

    test('30 anonymous skopeo pulls and 30 anonymous podman pulls from the same address: never a 429, the owner still logs in', async () => {
      const anon = { REGISTRY_AUTH_FILE: join(work, 'empty-auth.json') };
      for (let i = 0; i < 30; i++) {
        await ok(
          SKOPEO!,
          [
            'inspect',
            '--tls-verify=false',
            '--authfile',
            join(work, 'empty-auth.json'),
            `docker://${reg}/public/base:v1`,
          ],
          anon,
        );
      }
      if (PODMAN) {
        const podman = [
          '--root',
          join(work, 'anon', 'root'),
          '--runroot',
          join(short, 'a'),
          '--storage-driver',
          'vfs',
          '--cgroup-manager=cgroupfs',
          '--events-backend=file',
        ];
        for (let i = 0; i < 30; i++) {
          await ok(
            PODMAN,
            [
              ...podman,
              'pull',
              '--tls-verify=false',
              '--authfile',
              join(work, 'empty-auth.json'),
              `${reg}/public/base:v1`,
            ],
            anon,
          );
          if (i < 29) await ok(PODMAN, [...podman, 'rmi', '-f', `${reg}/public/base:v1`], anon);
        }
      }
      assert.deepEqual(
        statuses().filter((s) => s === 429),
        [],
      );
      assert.match(
        await ok(SKOPEO!, ['login', '--tls-verify=false', '-u', USER, '-p', PASSWORD, reg]),
        /Login Succeeded/,
      );
      assert.doesNotMatch(w.output(), /login throttling:/);
    });
  },
);
