/**
 * The real `podman` and `buildah` against wharf over HTTPS with htpasswd auth, trusting the CA through
 * `--cert-dir`: login, build (`FROM scratch` + `COPY`), push, rmi + pull; buildah from/copy/commit/push/pull.
 * Pulled images must carry the digests that were pushed. Everything (image storage with vfs, auth file,
 * registries.conf) lives in a temporary directory; no container is ever run, so no runtime or daemon is needed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startWharf, type Wharf } from './harness.js';
import { onPath, run, SKOPEO, skopeoOk } from './skopeo.js';
import {
  certDir,
  makeTlsFixtures,
  OPENSSL,
  OPENSSL_MISSING,
  tlsConfig,
  writeHtpasswd,
  type TlsFixtures,
} from './tls-certs.js';

const PODMAN = onPath('podman');
const BUILDAH = onPath('buildah');
const USER = 'bob';
const PASSWORD = 'p0dman-e2e';

describe(
  'podman and buildah over HTTPS',
  {
    skip: !OPENSSL
      ? OPENSSL_MISSING
      : !PODMAN && !BUILDAH
        ? 'neither podman nor buildah is on PATH (CI installs them; apt-get install podman buildah)'
        : false,
  },
  () => {
    let fx: TlsFixtures;
    let work: string;
    let w: Wharf;
    let reg: string;
    let certs: string;
    let authfile: string;
    let env: NodeJS.ProcessEnv;

    before(async () => {
      fx = makeTlsFixtures();
      work = mkdtempSync(join(tmpdir(), 'wharf-e2e-podman-'));
      const htpasswd = join(work, 'htpasswd');
      writeHtpasswd(htpasswd, USER, PASSWORD);
      certs = certDir(join(work, 'certs'), fx.ca.cert);
      authfile = join(work, 'auth.json');
      // No unqualified-search registries, no mirrors, nothing from the machine's /etc/containers/registries.conf.
      const registriesConf = join(work, 'registries.conf');
      writeFileSync(registriesConf, '');
      env = {
        ...process.env,
        CONTAINERS_REGISTRIES_CONF: registriesConf,
        REGISTRIES_CONFIG_PATH: registriesConf,
        REGISTRY_AUTH_FILE: authfile,
      };
      w = await startWharf({ config: tlsConfig({ server: fx.server, htpasswd }), tls: { ca: fx.ca.cert } });
      reg = `127.0.0.1:${w.port}`;
    });

    after(async () => {
      await w?.cleanup();
      fx?.remove();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    /** Runs a tool with storage under `work/<name>` (vfs: no mounts, nothing left behind but files); throws unless it exits 0. */
    async function tool(bin: string, storage: string, args: string[], extra: string[] = []): Promise<string> {
      const r = await runWithEnv(bin, [...storageArgs(storage), ...extra, ...args]);
      if (r.code !== 0) throw new Error(`${bin} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
      return r.stdout;
    }

    function storageArgs(name: string): string[] {
      return ['--root', join(work, name, 'root'), '--runroot', join(work, name, 'runroot'), '--storage-driver', 'vfs'];
    }

    function runWithEnv(bin: string, args: string[]) {
      return run(bin, args, 300_000, env);
    }

    /** The digest of a manifest in wharf, as skopeo sees it (or as the pulling tool reports, when skopeo is missing). */
    async function registryDigest(ref: string): Promise<string | null> {
      if (!SKOPEO) return null;
      const info = JSON.parse(
        await skopeoOk(['inspect', '--cert-dir', certs, '--authfile', authfile, `docker://${reg}/${ref}`]),
      ) as { Digest: string };
      return info.Digest;
    }

    describe(
      'podman',
      { skip: PODMAN ? false : 'podman is not on PATH (CI installs it; apt-get install podman)' },
      () => {
        const podman = (args: string[]) =>
          tool(PODMAN!, 'podman', args, ['--cgroup-manager=cgroupfs', '--events-backend=file']);
        let pushed: string;

        test('login refuses a registry whose CA is not trusted, then logs in with --cert-dir', async () => {
          const untrusted = await runWithEnv(PODMAN!, [
            ...storageArgs('podman'),
            'login',
            '--authfile',
            authfile,
            '-u',
            USER,
            '-p',
            PASSWORD,
            reg,
          ]);
          assert.notEqual(untrusted.code, 0);
          assert.match(untrusted.stderr, /x509: certificate signed by unknown authority/);
          const badPassword = await runWithEnv(PODMAN!, [
            ...storageArgs('podman'),
            'login',
            '--cert-dir',
            certs,
            '--authfile',
            authfile,
            '-u',
            USER,
            '-p',
            'wrong',
            reg,
          ]);
          assert.notEqual(badPassword.code, 0);
          assert.match(badPassword.stderr, /401|unauthorized|invalid username\/password/i);
          assert.match(
            await podman(['login', '--cert-dir', certs, '--authfile', authfile, '-u', USER, '-p', PASSWORD, reg]),
            /Login Succeeded/,
          );
          assert.ok(JSON.parse(readFileSync(authfile, 'utf8')).auths[reg]);
        });

        test('build FROM scratch + COPY and push', async () => {
          const ctx = join(work, 'context');
          mkdirSync(ctx);
          writeFileSync(join(ctx, 'hello.txt'), `hello from podman over https ${Date.now()}\n`);
          writeFileSync(join(ctx, 'Containerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
          await podman(['build', '--format', 'oci', '-t', `${reg}/e2e/podman:v1`, ctx]);
          const digestFile = join(work, 'podman.digest');
          await podman([
            'push',
            '--cert-dir',
            certs,
            '--authfile',
            authfile,
            '--digestfile',
            digestFile,
            `${reg}/e2e/podman:v1`,
          ]);
          pushed = readFileSync(digestFile, 'utf8').trim();
          assert.match(pushed, /^sha256:[0-9a-f]{64}$/);
          const inRegistry = await registryDigest('e2e/podman:v1');
          if (inRegistry) assert.equal(inRegistry, pushed);
        });

        test('rmi, then pull gets the pushed digest back', async () => {
          const id = (await podman(['image', 'inspect', '--format', '{{.Id}}', `${reg}/e2e/podman:v1`])).trim();
          await podman(['rmi', '-f', `${reg}/e2e/podman:v1`]);
          const gone = await runWithEnv(PODMAN!, [
            ...storageArgs('podman'),
            '--cgroup-manager=cgroupfs',
            '--events-backend=file',
            'image',
            'exists',
            `${reg}/e2e/podman:v1`,
          ]);
          assert.equal(gone.code, 1, 'the image was removed locally');
          await podman(['pull', '--cert-dir', certs, '--authfile', authfile, `${reg}/e2e/podman:v1`]);
          const [digest, pulledId] = (
            await podman(['image', 'inspect', '--format', '{{.Digest}} {{.Id}}', `${reg}/e2e/podman:v1`])
          )
            .trim()
            .split(' ');
          assert.equal(digest, pushed);
          assert.equal(pulledId, id, 'same config, same image id');
        });
      },
    );

    describe(
      'buildah',
      { skip: BUILDAH ? false : 'buildah is not on PATH (CI installs it; apt-get install buildah)' },
      () => {
        const buildah = (args: string[]) => tool(BUILDAH!, 'buildah', args);
        let pushed: string;

        test('from scratch, copy, commit, push', async () => {
          const file = join(work, 'buildah.txt');
          writeFileSync(file, `hello from buildah over https ${Date.now()}\n`);
          const ctr = (await buildah(['from', 'scratch'])).trim();
          await buildah(['copy', ctr, file, '/hello.txt']);
          await buildah(['config', '--label', 'e2e=buildah', ctr]);
          await buildah(['commit', '--format', 'oci', ctr, 'e2e-buildah']);
          await buildah(['rm', ctr]);
          const digestFile = join(work, 'buildah.digest');
          await buildah([
            'push',
            '--cert-dir',
            certs,
            '--authfile',
            authfile,
            '--creds',
            `${USER}:${PASSWORD}`,
            '--digestfile',
            digestFile,
            'e2e-buildah',
            `docker://${reg}/e2e/buildah:v1`,
          ]);
          pushed = readFileSync(digestFile, 'utf8').trim();
          assert.match(pushed, /^sha256:[0-9a-f]{64}$/);
          const inRegistry = await registryDigest('e2e/buildah:v1');
          if (inRegistry) assert.equal(inRegistry, pushed);
        });

        test('rmi, then pull gets the pushed digest and the label back', async () => {
          await buildah(['rmi', '-f', 'e2e-buildah']);
          const none = await runWithEnv(BUILDAH!, [...storageArgs('buildah'), 'images', '-q']);
          assert.equal(none.stdout.trim(), '', 'no images left locally');
          await buildah([
            'pull',
            '--cert-dir',
            certs,
            '--creds',
            `${USER}:${PASSWORD}`,
            `docker://${reg}/e2e/buildah:v1`,
          ]);
          const info = JSON.parse(await buildah(['inspect', '--type', 'image', `${reg}/e2e/buildah:v1`])) as {
            FromImageDigest: string;
            OCIv1: { config: { Labels: Record<string, string> } };
          };
          assert.equal(info.FromImageDigest, pushed);
          assert.equal(info.OCIv1.config.Labels.e2e, 'buildah');
        });

        test('a wrong password is refused (the image is local: --policy always makes buildah ask the registry)', async () => {
          const r = await runWithEnv(BUILDAH!, [
            ...storageArgs('buildah'),
            'pull',
            '--policy',
            'always',
            '--cert-dir',
            certs,
            '--creds',
            `${USER}:wrong`,
            `docker://${reg}/e2e/buildah:v1`,
          ]);
          assert.notEqual(r.code, 0);
          assert.match(r.stderr, /401|unauthorized|authentication required/i);
        });
      },
    );
  },
);
