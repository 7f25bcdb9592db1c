/**
 * HTTPS end to end with the real clients: wharf started with `http.tls` and htpasswd auth, then `skopeo` (login,
 * copy both ways, inspect, list-tags, delete) trusting the CA through `--cert-dir`, and `curl` for what skopeo
 * cannot show: refused TLS 1.1, client certificates with `clientcas`, HTTP/2 by ALPN, `Location` URLs, and
 * behind a TLS-terminating proxy. Also the certificate hot reload (the presented serial changes while requests
 * keep succeeding; a broken renewal keeps the old certificate) and the start-up checks of the files.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { httpsStatus, startWharf, testConfig, type Wharf } from './harness.js';
import { LayoutReader, OciLayout, type BuiltImage } from './ocilayout.js';
import { onPath, run, SKOPEO, SKOPEO_MISSING, skopeo, skopeoOk } from './skopeo.js';
import {
  certDir,
  makeTlsFixtures,
  OPENSSL,
  OPENSSL_MISSING,
  presentedSerial,
  serialOf,
  tlsConfig,
  writeHtpasswd,
  type KeyPair,
  type TlsFixtures,
} from './tls-certs.js';

const CURL = onPath('curl');
const missing = !SKOPEO
  ? SKOPEO_MISSING
  : !OPENSSL
    ? OPENSSL_MISSING
    : !CURL
      ? 'curl is not on PATH (apt-get install curl)'
      : false;
const USER = 'alice';
const PASSWORD = 's3cret-e2e';

/** Exit code of a wharf started with `waitReady: false` that is expected to stop by itself. */
async function exitCode(w: Wharf, timeoutMs = 15_000): Promise<number | null> {
  if (w.proc.exitCode !== null) return w.proc.exitCode;
  const timer = setTimeout(() => w.proc.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(w.proc, 'exit')) as [number | null];
  clearTimeout(timer);
  return code;
}

/** Waits until the output contains `text` (the process is not polled over the network). */
async function outputContains(w: Wharf, text: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!w.output().includes(text)) {
    if (w.proc.exitCode !== null)
      throw new Error(`wharf exited with ${w.proc.exitCode} before logging ${JSON.stringify(text)}:\n${w.output()}`);
    if (Date.now() > deadline) throw new Error(`wharf did not log ${JSON.stringify(text)}:\n${w.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function curl(args: string[]) {
  return run(CURL!, ['-sS', '--max-time', '20', ...args]);
}

describe('HTTPS with skopeo and curl', { skip: missing }, () => {
  let fx: TlsFixtures;
  let work: string;
  let htpasswd: string;
  let certs: string;
  let authfile: string;
  let layout: OciLayout;
  let image: BuiltImage;
  let w: Wharf;
  let reg: string;
  let n = 0;
  const scratch = (what: string) => join(work, `${what}-${++n}`);
  const started: Wharf[] = [];
  /** Starts wharf; it is cleaned up in after(). */
  async function start(...a: Parameters<typeof startWharf>): Promise<Wharf> {
    const s = await startWharf(...a);
    started.push(s);
    return s;
  }

  before(async () => {
    fx = makeTlsFixtures();
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-tls-'));
    htpasswd = join(work, 'htpasswd');
    writeHtpasswd(htpasswd, USER, PASSWORD);
    certs = certDir(join(work, 'certs'), fx.ca.cert);
    authfile = join(work, 'auth.json');
    layout = new OciLayout(join(work, 'layout'));
    image = layout.image('tls', { os: 'linux', architecture: 'amd64' }, 1);
    layout.tag('v1', image.manifest);
    w = await start({ config: tlsConfig({ server: fx.server, htpasswd }), tls: { ca: fx.ca.cert } });
    reg = `127.0.0.1:${w.port}`;
  });

  after(async () => {
    for (const s of started) await s.cleanup();
    fx?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe('skopeo trusting the CA with --cert-dir', () => {
    test('login with a wrong password fails; with the right one it writes the auth file', async () => {
      const bad = await skopeo(['login', '--cert-dir', certs, '--authfile', authfile, '-u', USER, '-p', 'wrong', reg]);
      assert.notEqual(bad.code, 0, bad.stdout);
      assert.match(bad.stderr, /401|unauthorized|invalid username\/password/i);
      const out = await skopeoOk([
        'login',
        '--cert-dir',
        certs,
        '--authfile',
        authfile,
        '-u',
        USER,
        '-p',
        PASSWORD,
        reg,
      ]);
      assert.match(out, /Login Succeeded/);
      const auths = JSON.parse(readFileSync(authfile, 'utf8')) as { auths: Record<string, { auth: string }> };
      assert.equal(Buffer.from(auths.auths[reg].auth, 'base64').toString(), `${USER}:${PASSWORD}`);
    });

    test('copy pushes with the auth file and pulls back the same digests', async () => {
      const pushed = scratch('digest');
      await skopeoOk([
        'copy',
        '--dest-cert-dir',
        certs,
        '--authfile',
        authfile,
        '--digestfile',
        pushed,
        `oci:${layout.dir}:v1`,
        `docker://${reg}/e2e/tls:v1`,
      ]);
      assert.equal(readFileSync(pushed, 'utf8').trim(), image.manifest.digest);
      const back = scratch('pulled');
      await skopeoOk([
        'copy',
        '--src-cert-dir',
        certs,
        '--src-creds',
        `${USER}:${PASSWORD}`,
        `docker://${reg}/e2e/tls:v1`,
        `oci:${back}:v1`,
      ]);
      const r = new LayoutReader(back);
      assert.equal(r.ref('v1').digest, image.manifest.digest);
      for (const l of image.layers) assert.deepEqual(r.blob(l.digest), l.bytes);
    });

    test('inspect and list-tags with --creds', async () => {
      const info = JSON.parse(
        await skopeoOk([
          'inspect',
          '--cert-dir',
          certs,
          '--creds',
          `${USER}:${PASSWORD}`,
          `docker://${reg}/e2e/tls:v1`,
        ]),
      ) as { Digest: string };
      assert.equal(info.Digest, image.manifest.digest);
      const tags = JSON.parse(
        await skopeoOk(['list-tags', '--cert-dir', certs, '--authfile', authfile, `docker://${reg}/e2e/tls`]),
      ) as { Tags: string[] };
      assert.deepEqual(tags.Tags, ['v1']);
    });

    test('without credentials the registry answers 401 through TLS', async () => {
      const r = await skopeo(['inspect', '--cert-dir', certs, '--no-creds', `docker://${reg}/e2e/tls:v1`]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /unauthorized|authentication required/i);
    });

    test('delete removes the manifest', async () => {
      await skopeoOk([
        'copy',
        '--dest-cert-dir',
        certs,
        '--authfile',
        authfile,
        `oci:${layout.dir}:v1`,
        `docker://${reg}/e2e/doomed:v1`,
      ]);
      await skopeoOk(['delete', '--cert-dir', certs, '--authfile', authfile, `docker://${reg}/e2e/doomed:v1`]);
      const r = await skopeo(['inspect', '--cert-dir', certs, '--authfile', authfile, `docker://${reg}/e2e/doomed:v1`]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /manifest unknown/i);
    });

    test('a CA skopeo does not trust is refused with a certificate error', async () => {
      const wrong = certDir(scratch('wrong-ca'), fx.otherCa.cert);
      const r = await skopeo([
        'inspect',
        '--cert-dir',
        wrong,
        '--creds',
        `${USER}:${PASSWORD}`,
        `docker://${reg}/e2e/tls:v1`,
      ]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /certificate/i);
      const s = await start({ config: tlsConfig({ server: fx.otherServer, htpasswd }), tls: { ca: fx.otherCa.cert } });
      const r2 = await skopeo([
        'inspect',
        '--cert-dir',
        certs,
        '--creds',
        `${USER}:${PASSWORD}`,
        `docker://127.0.0.1:${s.port}/e2e/tls:v1`,
      ]);
      assert.notEqual(r2.code, 0);
      assert.match(r2.stderr, /x509: certificate signed by unknown authority/);
    });
  });

  describe('curl', () => {
    test('TLS 1.1 is refused by the server even when the client allows it', async () => {
      const r = await curl([
        '--cacert',
        fx.ca.cert,
        '--tlsv1.1',
        '--tls-max',
        '1.1',
        '--ciphers',
        'DEFAULT@SECLEVEL=0',
        `https://${reg}/v2/`,
      ]);
      assert.equal(r.code, 35, r.stderr);
      assert.match(r.stderr, /protocol version/);
      const ok = await curl([
        '--cacert',
        fx.ca.cert,
        '--tlsv1.2',
        '--tls-max',
        '1.2',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `https://${reg}/v2/`,
      ]);
      assert.equal(ok.stdout, '401', ok.stderr);
    });

    test('HTTP/2 is negotiated by ALPN; Location headers are https:// with the port', async () => {
      const v = await curl([
        '--cacert',
        fx.ca.cert,
        '--http2',
        '-u',
        `${USER}:${PASSWORD}`,
        '-o',
        '/dev/null',
        '-w',
        '%{http_version} %{http_code}',
        `https://${reg}/v2/`,
      ]);
      assert.equal(v.stdout, '2 200', v.stderr);
      for (const [version, host] of [
        ['--http2', reg],
        ['--http1.1', reg],
        ['--http2', `localhost:${w.port}`],
      ]) {
        const r = await curl([
          '--cacert',
          fx.ca.cert,
          version,
          '-u',
          `${USER}:${PASSWORD}`,
          '-X',
          'POST',
          '-D',
          '-',
          '-o',
          '/dev/null',
          `https://${host}/v2/e2e/tls/blobs/uploads/`,
        ]);
        assert.equal(r.code, 0, r.stderr);
        const location = /^location: (\S+)/im.exec(r.stdout)?.[1];
        assert.ok(location?.startsWith(`https://${host}/v2/e2e/tls/blobs/uploads/`), `${version}: ${r.stdout}`);
      }
    });

    test('minimumtls: tls1.3 refuses TLS 1.2; ciphersuites limits the TLS 1.2 suites (Go names)', async () => {
      const v13 = await start({
        config: tlsConfig({ server: fx.server, htpasswd, minimumtls: 'tls1.3' }),
        tls: { ca: fx.ca.cert },
      });
      const refused = await curl(['--cacert', fx.ca.cert, '--tls-max', '1.2', `https://127.0.0.1:${v13.port}/v2/`]);
      assert.equal(refused.code, 35, refused.stderr);
      const ok = await curl([
        '--cacert',
        fx.ca.cert,
        '--tlsv1.3',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `https://127.0.0.1:${v13.port}/v2/`,
      ]);
      assert.equal(ok.stdout, '401', ok.stderr);

      const suites = await start({
        config: tlsConfig({ server: fx.server, htpasswd, ciphersuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] }),
        tls: { ca: fx.ca.cert },
      });
      const port = suites.port;
      const other = await curl([
        '--cacert',
        fx.ca.cert,
        '--tls-max',
        '1.2',
        '--ciphers',
        'ECDHE-ECDSA-AES256-GCM-SHA384',
        `https://127.0.0.1:${port}/v2/`,
      ]);
      assert.equal(other.code, 35, other.stderr);
      const listed = await curl([
        '--cacert',
        fx.ca.cert,
        '--tls-max',
        '1.2',
        '--ciphers',
        'ECDHE-ECDSA-AES128-GCM-SHA256',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `https://127.0.0.1:${port}/v2/`,
      ]);
      assert.equal(listed.stdout, '401', listed.stderr);
    });

    test("TLS 1.3: the server picks the suite in Go's order, as Distribution does, whatever the client lists first", async () => {
      const s = await start({ config: tlsConfig({ server: fx.server, htpasswd }), tls: { ca: fx.ca.cert } });
      const suite = async (offered: string) => {
        const r = await curl([
          '-sv',
          '--cacert',
          fx.ca.cert,
          '--tls13-ciphers',
          offered,
          '-o',
          '/dev/null',
          `https://127.0.0.1:${s.port}/v2/`,
        ]);
        return /SSL connection using TLSv1\.3 \/ (\S+)/.exec(r.stderr)?.[1] ?? r.stderr;
      };
      // curl's (and Node's) default lists AES-256-GCM first; Go serves AES-128-GCM first with AES hardware.
      assert.equal(
        await suite('TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256'),
        'TLS_AES_128_GCM_SHA256',
      );
      // A client that offers only one suite still gets it.
      assert.equal(await suite('TLS_CHACHA20_POLY1305_SHA256'), 'TLS_CHACHA20_POLY1305_SHA256');
    });

    test('http.http2.disabled serves HTTP/1.1 only', async () => {
      const s = await start({
        config: tlsConfig({ server: fx.server, htpasswd, http: '  http2:\n    disabled: true' }),
        tls: { ca: fx.ca.cert },
      });
      const r = await curl([
        '--cacert',
        fx.ca.cert,
        '--http2',
        '-u',
        `${USER}:${PASSWORD}`,
        '-o',
        '/dev/null',
        '-w',
        '%{http_version} %{http_code}',
        `https://127.0.0.1:${s.port}/v2/`,
      ]);
      assert.equal(r.stdout, '1.1 200', r.stderr);
    });
  });

  describe('client certificates (clientcas)', () => {
    let m: Wharf;
    let mreg: string;
    const code = async (extra: string[]) =>
      curl([
        '--cacert',
        fx.ca.cert,
        '-u',
        `${USER}:${PASSWORD}`,
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        ...extra,
        `https://${mreg}/v2/`,
      ]);

    before(async () => {
      m = await start({
        config: tlsConfig({ server: fx.server, htpasswd, clientcas: [fx.clientCa.cert] }),
        tls: { ca: fx.ca.cert, ...pair(fx.client) },
      });
      mreg = `127.0.0.1:${m.port}`;
    });

    test('a client without a certificate is refused', async () => {
      const r = await code([]);
      assert.notEqual(r.code, 0);
      // With TLS 1.3 the refusal arrives after curl's side of the handshake, as an alert or a closed connection.
      assert.equal(r.stdout, '000', 'no HTTP response');
    });

    test('a client with a certificate from another CA is refused', async () => {
      const r = await code(['--cert', fx.otherClient.cert, '--key', fx.otherClient.key]);
      assert.notEqual(r.code, 0);
      assert.equal(r.stdout, '000');
    });

    test('a client with a certificate from the client CA is accepted', async () => {
      const r = await code(['--cert', fx.client.cert, '--key', fx.client.key]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '200');
    });

    test('clientauth: verify-client-cert-if-given accepts no certificate but refuses one from another CA', async () => {
      const s = await start({
        config: tlsConfig({
          server: fx.server,
          htpasswd,
          clientcas: [fx.clientCa.cert],
          clientauth: 'verify-client-cert-if-given',
        }),
        tls: { ca: fx.ca.cert },
      });
      const at = (extra: string[]) =>
        curl([
          '--cacert',
          fx.ca.cert,
          '-u',
          `${USER}:${PASSWORD}`,
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          ...extra,
          `https://127.0.0.1:${s.port}/v2/`,
        ]);
      assert.equal((await at([])).stdout, '200');
      assert.equal((await at(['--cert', fx.client.cert, '--key', fx.client.key])).stdout, '200');
      const wrong = await at(['--cert', fx.otherClient.cert, '--key', fx.otherClient.key]);
      assert.notEqual(wrong.code, 0);
      assert.equal(wrong.stdout, '000');
    });

    test('skopeo presents client.cert/client.key from --cert-dir', async () => {
      const withClient = certDir(scratch('mtls'), fx.ca.cert, fx.client);
      const digest = scratch('digest');
      await skopeoOk([
        'copy',
        '--dest-cert-dir',
        withClient,
        '--dest-creds',
        `${USER}:${PASSWORD}`,
        '--digestfile',
        digest,
        `oci:${layout.dir}:v1`,
        `docker://${mreg}/e2e/mtls:v1`,
      ]);
      assert.equal(readFileSync(digest, 'utf8').trim(), image.manifest.digest);
      const info = JSON.parse(
        await skopeoOk([
          'inspect',
          '--cert-dir',
          withClient,
          '--creds',
          `${USER}:${PASSWORD}`,
          `docker://${mreg}/e2e/mtls:v1`,
        ]),
      ) as { Digest: string };
      assert.equal(info.Digest, image.manifest.digest);
      const r = await skopeo([
        'inspect',
        '--cert-dir',
        certs,
        '--creds',
        `${USER}:${PASSWORD}`,
        `docker://${mreg}/e2e/mtls:v1`,
      ]);
      assert.notEqual(r.code, 0, 'without client.cert skopeo must be refused');
    });
  });

  describe('certificate hot reload', () => {
    let h: Wharf;
    let live: KeyPair;

    before(async () => {
      const d = mkdtempSync(join(work, 'live-'));
      live = { cert: join(d, 'server.crt'), key: join(d, 'server.key') };
      copyFileSync(fx.server.cert, live.cert);
      copyFileSync(fx.server.key, live.key);
      chmodSync(live.key, 0o600);
      h = await start({ config: tlsConfig({ server: live, htpasswd }), tls: { ca: fx.ca.cert } });
    });

    async function serialBecomes(expected: string, timeoutMs = 10_000): Promise<number> {
      const t0 = Date.now();
      for (;;) {
        if ((await presentedSerial(h.port, fx.ca.cert)) === expected) return Date.now() - t0;
        if (Date.now() - t0 > timeoutMs)
          throw new Error(`the presented certificate did not become ${expected}:\n${h.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    test('a renewed certificate is served within seconds while requests keep succeeding', async () => {
      assert.equal(await presentedSerial(h.port, fx.ca.cert), serialOf(fx.server.cert));
      const renewed = fx.issueServer('localhost renewed');
      const serial = serialOf(renewed.cert);
      assert.notEqual(serial, serialOf(fx.server.cert));

      // A new TLS connection per request, so every handshake during the swap is checked against the CA.
      const auth = { Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };
      let stop = false;
      const results: (number | string)[] = [];
      const loop = (async () => {
        while (!stop)
          results.push(await httpsStatus(`${h.url}/v2/`, { ca: fx.ca.cert }, auth).catch((err: Error) => err.message));
      })();
      await new Promise((r) => setTimeout(r, 300));
      writeFileSync(live.cert, readFileSync(renewed.cert));
      writeFileSync(live.key, readFileSync(renewed.key));
      await serialBecomes(serial);
      await new Promise((r) => setTimeout(r, 300));
      stop = true;
      await loop;
      assert.ok(results.length > 10, `only ${results.length} requests ran`);
      assert.deepEqual(
        results.filter((r) => r !== 200),
        [],
      );
      assert.match(h.output(), /tls: certificate reloaded/);
    });

    test('a broken renewal keeps the previous certificate serving and the log says why', async () => {
      const before = await presentedSerial(h.port, fx.ca.cert);
      writeFileSync(live.cert, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
      await outputContains(h, 'still serving the previous certificate');
      assert.match(h.output(), /http\.tls\.certificate: \S+ is not a PEM certificate/);
      assert.equal(await presentedSerial(h.port, fx.ca.cert), before);
      assert.equal(await httpsStatus(`${h.url}/v2/`, { ca: fx.ca.cert }), 401);
      // Fixing the file recovers without a restart.
      const fixed = fx.issueServer('localhost fixed');
      writeFileSync(live.key, readFileSync(fixed.key));
      writeFileSync(live.cert, readFileSync(fixed.cert));
      await serialBecomes(serialOf(fixed.cert));
    });
  });

  describe('start-up checks of the certificate files', () => {
    test('a key that does not match the certificate stops the start naming http.tls.key', async () => {
      const s = await start({
        config: tlsConfig({ server: { cert: fx.server.cert, key: fx.otherServer.key }, htpasswd }),
        waitReady: false,
      });
      assert.equal(await exitCode(s), 1);
      assert.match(s.output(), /http\.tls\.key: \S+ does not match the certificate/);
    });

    test('an unreadable certificate stops the start naming http.tls.certificate', async () => {
      const s = await start({
        config: tlsConfig({ server: { cert: join(work, 'no-such.crt'), key: fx.server.key }, htpasswd }),
        waitReady: false,
      });
      assert.equal(await exitCode(s), 1);
      assert.match(s.output(), /http\.tls\.certificate: cannot read \S+no-such\.crt/);
    });

    test('a certificate that is not PEM stops the start naming http.tls.certificate', async () => {
      const bad = join(work, 'garbage.crt');
      writeFileSync(bad, 'garbage\n');
      const s = await start({
        config: tlsConfig({ server: { cert: bad, key: fx.server.key }, htpasswd }),
        waitReady: false,
      });
      assert.equal(await exitCode(s), 1);
      assert.match(s.output(), /http\.tls\.certificate: \S+ is not a PEM certificate/);
    });

    test('an expired certificate starts with a warning (and clients refuse it)', async () => {
      const s = await start({ config: tlsConfig({ server: fx.expired, htpasswd }), waitReady: false });
      await outputContains(s, 'listening on');
      assert.match(
        s.output(),
        /level=warn(ing)? msg="http\.tls\.certificate: \S+ expired on Feb {2}1 00:00:00 2020 GMT; clients will refuse it"/,
      );
      const r = await curl(['--cacert', fx.ca.cert, `https://127.0.0.1:${s.port}/v2/`]);
      assert.equal(r.code, 60, r.stderr);
      assert.match(r.stderr, /expired/);
    });

    test('a key readable by others starts with a warning', async () => {
      const d = mkdtempSync(join(work, 'loose-'));
      const key = join(d, 'server.key');
      copyFileSync(fx.server.key, key);
      chmodSync(key, 0o644);
      const s = await start({
        config: tlsConfig({ server: { cert: fx.server.cert, key }, htpasswd }),
        tls: { ca: fx.ca.cert },
      });
      assert.match(s.output(), /http\.tls\.key: \S+ is readable by group or others \(mode 644\); chmod 600 it/);
      assert.equal(await httpsStatus(`${s.url}/v2/`, { ca: fx.ca.cert }), 401);
    });
  });

  describe('behind a TLS-terminating proxy (plain HTTP wharf)', () => {
    async function location(url: string, headers: Record<string, string>): Promise<string | null> {
      const r = await fetch(`${url}/v2/e2e/proxied/blobs/uploads/`, { method: 'POST', headers });
      await r.arrayBuffer();
      assert.equal(r.status, 202);
      return r.headers.get('location');
    }

    test('X-Forwarded-Proto and X-Forwarded-Host make https:// Locations of the public name', async () => {
      const p = await start();
      const loc = await location(p.url, { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'registry.example.com' });
      assert.ok(loc?.startsWith('https://registry.example.com/v2/e2e/proxied/blobs/uploads/'), String(loc));
      const first = await location(p.url, {
        'X-Forwarded-Proto': 'https, http',
        'X-Forwarded-Host': 'registry.example.com:8443, internal:5000',
      });
      assert.ok(first?.startsWith('https://registry.example.com:8443/v2/'), String(first));
    });

    test('http.host overrides the forwarded headers', async () => {
      const config = testConfig({ accessLog: true, storage: '', http: '  host: https://reg.example.org:8443\n' });
      const p = await start({ config });
      const loc = await location(p.url, { 'X-Forwarded-Proto': 'http', 'X-Forwarded-Host': 'elsewhere.example.com' });
      assert.ok(loc?.startsWith('https://reg.example.org:8443/v2/e2e/proxied/blobs/uploads/'), String(loc));
    });
  });
});

function pair(k: KeyPair): { cert: string; key: string } {
  return { cert: k.cert, key: k.key };
}
