/**
 * The Docker CLI against wharf over HTTPS with htpasswd auth, without a Docker daemon: `docker login` and
 * `docker manifest inspect` both run client side. With no daemon to ask, `docker login` falls back to logging in
 * from the CLI itself (it pings `/v2/` with the credentials), and `docker manifest` always talks to the registry
 * directly. Both trust the CA the way the daemon does: `/etc/docker/certs.d/<host:port>/ca.crt` (the CLI reads no
 * certs.d under DOCKER_CONFIG), so the test writes one such directory for its own port and removes it afterwards.
 *
 * Docker skips certificate verification for registries on 127.0.0.0/8 (they are "insecure" by default, even by
 * name, as `localhost` resolves there), so trust can only be tested on a non-loopback address: wharf listens on
 * this machine's first non-internal IPv4 address for the length of the test, behind htpasswd.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startWharf, type Wharf } from './harness.js';
import { OciLayout, type BuiltImage } from './ocilayout.js';
import { onPath, run, SKOPEO, SKOPEO_MISSING, skopeoOk } from './skopeo.js';
import {
  certDir,
  makeTlsFixtures,
  OPENSSL,
  OPENSSL_MISSING,
  tlsConfig,
  writeHtpasswd,
  type TlsFixtures,
} from './tls-certs.js';

const DOCKER = onPath('docker');
const USER = 'carol';
const PASSWORD = 'd0cker-e2e';
const CERTS_D = '/etc/docker/certs.d';

/** The first non-internal IPv4 address of this machine, or null. */
function externalIPv4(): string | null {
  for (const addrs of Object.values(networkInterfaces()))
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return null;
}

const IP = externalIPv4();
const skip = !DOCKER
  ? 'docker CLI is not on PATH (apt-get install docker.io brings it)'
  : !OPENSSL
    ? OPENSSL_MISSING
    : !SKOPEO
      ? SKOPEO_MISSING
      : !IP
        ? 'no non-loopback IPv4 address: Docker never verifies certificates of registries on 127.0.0.0/8'
        : process.getuid?.() !== 0
          ? `not root: the Docker CLI reads CAs only from ${CERTS_D}`
          : false;

describe('docker CLI over HTTPS (no daemon)', { skip }, () => {
  let fx: TlsFixtures;
  let work: string;
  let w: Wharf;
  let reg: string;
  let image: BuiltImage;
  let env: NodeJS.ProcessEnv;
  /** Our `/etc/docker/certs.d/<host:port>` and the topmost directory this test created (removed in after()). */
  let hostCerts: string;
  let created: string | null = null;

  before(async () => {
    fx = makeTlsFixtures({ extraIps: [IP!] });
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-docker-'));
    const htpasswd = join(work, 'htpasswd');
    writeHtpasswd(htpasswd, USER, PASSWORD);
    w = await startWharf({
      config: tlsConfig({ server: fx.server, htpasswd, host: IP! }),
      tls: { ca: fx.ca.cert },
      host: IP!,
    });
    reg = `${IP}:${w.port}`;
    hostCerts = join(CERTS_D, reg);
    // DOCKER_HOST names a socket that does not exist: the CLI must not reach any daemon of this machine.
    env = {
      ...process.env,
      DOCKER_CONFIG: join(work, 'docker-config'),
      DOCKER_HOST: `unix://${join(work, 'no-daemon.sock')}`,
      DOCKER_CLI_HINTS: 'false',
    };

    const layout = new OciLayout(join(work, 'layout'));
    image = layout.image('docker', { os: 'linux', architecture: 'amd64' }, 1);
    layout.tag('v1', image.manifest);
    const certs = certDir(join(work, 'certs'), fx.ca.cert);
    await skopeoOk([
      'copy',
      '--dest-cert-dir',
      certs,
      '--dest-creds',
      `${USER}:${PASSWORD}`,
      `oci:${layout.dir}:v1`,
      `docker://${reg}/e2e/docker:v1`,
    ]);
  });

  after(async () => {
    await w?.cleanup();
    if (hostCerts) rmSync(hostCerts, { recursive: true, force: true });
    if (created) rmSync(created, { recursive: true, force: true });
    fx?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const docker = (args: string[]) => run(DOCKER!, args, 60_000, env);

  /** run() gives no stdin, so the password goes in --password (the CLI warns; fine for a test). */
  const login = (password: string) => docker(['login', '-u', USER, '--password', password, reg]);

  test('without the CA in certs.d, login fails verifying the certificate', async () => {
    const r = await login(PASSWORD);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /x509: certificate signed by unknown authority/);
  });

  test(`with ${CERTS_D}/<host:port>/ca.crt, a wrong password is refused and the right one logs in`, async () => {
    // Remember the first directory that did not exist, so that after() removes exactly what was added.
    for (let d = hostCerts; !existsSync(d); d = dirname(d)) created = d;
    mkdirSync(hostCerts, { recursive: true });
    copyFileSync(fx.ca.cert, join(hostCerts, 'ca.crt'));

    const bad = await login('wrong');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /401|unauthorized/i);
    const ok = await login(PASSWORD);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Login Succeeded/);
    const config = JSON.parse(readFileSync(join(env.DOCKER_CONFIG!, 'config.json'), 'utf8')) as {
      auths: Record<string, { auth: string }>;
    };
    assert.equal(Buffer.from(config.auths[reg].auth, 'base64').toString(), `${USER}:${PASSWORD}`);
  });

  test('manifest inspect shows the manifest pushed with skopeo', async () => {
    const r = await docker(['manifest', 'inspect', `${reg}/e2e/docker:v1`]);
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout) as {
      schemaVersion: number;
      config: { digest: string };
      layers: { digest: string }[];
    };
    assert.equal(m.schemaVersion, 2);
    assert.equal(m.config.digest, image.config.digest);
    assert.deepEqual(
      m.layers.map((l) => l.digest),
      image.layers.map((l) => l.digest),
    );
    const v = await docker(['manifest', 'inspect', '--verbose', `${reg}/e2e/docker:v1`]);
    assert.equal(v.code, 0, v.stderr);
    assert.equal((JSON.parse(v.stdout) as { Descriptor: { digest: string } }).Descriptor.digest, image.manifest.digest);
  });

  test('manifest inspect of a missing tag says so', async () => {
    const r = await docker(['manifest', 'inspect', `${reg}/e2e/docker:nope`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no such manifest/);
  });

  test('after logout, manifest inspect is refused', async () => {
    const out = await docker(['logout', reg]);
    assert.equal(out.code, 0, out.stderr);
    const r = await docker(['manifest', 'inspect', `${reg}/e2e/docker:v1`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unauthorized|authentication required|no basic auth credentials/i);
  });
});
