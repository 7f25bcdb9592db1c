/**
 * Certificates for the HTTPS end-to-end tests, made with the real `openssl` in a temporary directory: a server CA
 * and its server certificate for `127.0.0.1` and `localhost` (SANs), a client CA and its client certificate for
 * mTLS, an unrelated CA with its own server and client certificates, and an expired server certificate. Keys are
 * ECDSA P-256 (fast to make, accepted by Node, Go and curl) and written with mode 0600.
 * Also: htpasswd files, a `--cert-dir` in the containers/image layout, and the serial a server presents.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { MAIN, testConfig } from './harness.js';
import { onPath } from './skopeo.js';

export const OPENSSL = onPath('openssl');
export const OPENSSL_MISSING = 'openssl is not on PATH (CI installs it; apt-get install openssl)';

export interface KeyPair {
  cert: string;
  key: string;
}

export interface TlsFixtures {
  dir: string;
  /** The CA that signed `server` (and `expired`, and every `issueServer()`). */
  ca: KeyPair;
  /** CN=localhost, SANs IP:127.0.0.1 and DNS:localhost, signed by `ca`. */
  server: KeyPair;
  /** The CA named by `http.tls.clientcas`. */
  clientCa: KeyPair;
  /** A client certificate signed by `clientCa`. */
  client: KeyPair;
  /** A CA nobody trusts, with a server certificate for 127.0.0.1/localhost and a client certificate of its own. */
  otherCa: KeyPair;
  otherServer: KeyPair;
  otherClient: KeyPair;
  /** Signed by `ca`, valid only in January 2020. */
  expired: KeyPair;
  /** A fresh server certificate from `ca` (a new random serial) with the given common name. */
  issueServer(cn: string): KeyPair;
  remove(): void;
}

function openssl(cwd: string, args: string[]): void {
  if (!OPENSSL) throw new Error(OPENSSL_MISSING);
  try {
    execFileSync(OPENSSL, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args.join(' ')}: ${e.stderr?.toString() ?? e.message}`);
  }
}

/** `extraIps`: more IP SANs for `server` and `issueServer()` (e.g. a non-loopback address, which Docker verifies). */
export function makeTlsFixtures(opts: { extraIps?: string[] } = {}): TlsFixtures {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-certs-'));
  const p = (name: string) => join(dir, name);
  // `openssl ca` is used for leaf certificates because it can set explicit validity dates (for `expired`).
  writeFileSync(p('index.txt'), '');
  writeFileSync(
    p('ca.cnf'),
    '[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = issued\nserial = serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n',
  );
  mkdirSync(p('issued'));
  writeFileSync(
    p('server.ext'),
    `subjectAltName = ${['IP:127.0.0.1', 'DNS:localhost', ...(opts.extraIps ?? []).map((ip) => `IP:${ip}`)].join(', ')}\nextendedKeyUsage = serverAuth\nkeyUsage = critical, digitalSignature\n`,
  );
  writeFileSync(p('client.ext'), 'extendedKeyUsage = clientAuth\nkeyUsage = critical, digitalSignature\n');

  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const makeCa = (name: string, cn: string): KeyPair => {
    openssl(dir, [
      'req',
      '-x509',
      ...newKey,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '30',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    chmodSync(p(`${name}.key`), 0o600);
    return { cert: p(`${name}.crt`), key: p(`${name}.key`) };
  };
  const makeLeaf = (
    name: string,
    cn: string,
    issuer: KeyPair,
    ext: 'server' | 'client',
    dates: string[] = ['-days', '30'],
  ): KeyPair => {
    openssl(dir, ['req', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    openssl(dir, [
      'ca',
      '-batch',
      '-config',
      'ca.cnf',
      '-cert',
      issuer.cert,
      '-keyfile',
      issuer.key,
      '-in',
      `${name}.csr`,
      '-out',
      `${name}.crt`,
      '-extfile',
      `${ext}.ext`,
      '-notext',
      '-rand_serial',
      ...dates,
    ]);
    chmodSync(p(`${name}.key`), 0o600);
    return { cert: p(`${name}.crt`), key: p(`${name}.key`) };
  };

  const ca = makeCa('ca', 'wharf e2e CA');
  const clientCa = makeCa('client-ca', 'wharf e2e client CA');
  const otherCa = makeCa('other-ca', 'unrelated CA');
  let issued = 0;
  return {
    dir,
    ca,
    server: makeLeaf('server', 'localhost', ca, 'server'),
    clientCa,
    client: makeLeaf('client', 'e2e client', clientCa, 'client'),
    otherCa,
    otherServer: makeLeaf('other-server', 'localhost', otherCa, 'server'),
    otherClient: makeLeaf('other-client', 'intruder', otherCa, 'client'),
    expired: makeLeaf('expired', 'localhost', ca, 'server', [
      '-startdate',
      '20200101000000Z',
      '-enddate',
      '20200201000000Z',
    ]),
    issueServer: (cn) => makeLeaf(`issued-${++issued}`, cn, ca, 'server'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A certificates directory as containers/image (skopeo, podman, buildah) reads with `--cert-dir`, and as Docker
 * reads under `certs.d/<host:port>/`: `ca.crt`, and with a client pair `client.cert` + `client.key`.
 */
export function certDir(dir: string, ca: string, client?: KeyPair): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(ca, join(dir, 'ca.crt'));
  if (client) {
    copyFileSync(client.cert, join(dir, 'client.cert'));
    copyFileSync(client.key, join(dir, 'client.key'));
    chmodSync(join(dir, 'client.key'), 0o600);
  }
  return dir;
}

/** Writes a one-user bcrypt htpasswd file with `wharf htpasswd -Bbc` when that command exists, else Apache's `htpasswd`. */
export function writeHtpasswd(path: string, user: string, password: string): void {
  const wharfHas = (() => {
    try {
      return execFileSync(process.execPath, [MAIN, 'help'], { stdio: ['ignore', 'pipe', 'pipe'] })
        .toString()
        .includes('htpasswd');
    } catch {
      return false;
    }
  })();
  const [cmd, args] = wharfHas
    ? [process.execPath, [MAIN, 'htpasswd', '-Bbc', path, user, password]]
    : [onPath('htpasswd'), ['-Bbc', path, user, password]];
  if (!cmd) throw new Error('neither `wharf htpasswd` nor Apache htpasswd (apache2-utils) is available');
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (!existsSync(path) || !readFileSync(path, 'utf8').startsWith(`${user}:$2`))
    throw new Error(`htpasswd did not write a bcrypt entry for ${user} to ${path}`);
}

/** The serial number (upper-case hex) of the certificate a TLS server presents for `servername`. */
export function presentedSerial(port: number, ca: string, servername = 'localhost'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(
      { host: '127.0.0.1', port, servername, ca: readFileSync(ca), ALPNProtocols: ['http/1.1'] },
      () => {
        const serial = s.getPeerCertificate().serialNumber;
        s.end();
        resolve(normalSerial(serial));
      },
    );
    s.once('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('TLS handshake timed out')));
  });
}

/** The serial number (upper-case hex) of a PEM certificate file. */
export function serialOf(certPath: string): string {
  if (!OPENSSL) throw new Error(OPENSSL_MISSING);
  const out = execFileSync(OPENSSL, ['x509', '-in', certPath, '-noout', '-serial']).toString();
  return normalSerial(out.trim().replace(/^serial=/, ''));
}

/** Serials compared as upper-case hex without leading zeros (openssl and Node pad them differently). */
function normalSerial(s: string): string {
  return s.toUpperCase().replace(/^0+(?=.)/, '');
}

export interface TlsConfigOptions {
  /** Server pair for `http.tls.certificate`/`key`. */
  server: KeyPair;
  /** htpasswd file for `auth.htpasswd.path`; none: no auth. */
  htpasswd?: string;
  clientcas?: string[];
  clientauth?: string;
  minimumtls?: string;
  ciphersuites?: string[];
  /** Listening address (default 127.0.0.1). */
  host?: string;
  /** Extra lines under `http:` (indented by two spaces), e.g. `  http2:\n    disabled: true`. */
  http?: string;
}

/** A harness config (`{{port}}`, `{{data}}` placeholders) serving HTTPS with `http.tls`, optionally htpasswd auth. */
export function tlsConfig(o: TlsConfigOptions): string {
  const tls = [`    certificate: ${o.server.cert}`, `    key: ${o.server.key}`];
  if (o.clientcas) tls.push('    clientcas:', ...o.clientcas.map((c) => `      - ${c}`));
  if (o.clientauth) tls.push(`    clientauth: ${o.clientauth}`);
  if (o.minimumtls) tls.push(`    minimumtls: ${o.minimumtls}`);
  if (o.ciphersuites) tls.push('    ciphersuites:', ...o.ciphersuites.map((c) => `      - ${c}`));
  return testConfig({
    logLevel: 'info',
    host: o.host,
    http: `  tls:\n${tls.join('\n')}\n${o.http ?? ''}\n`,
    extra: o.htpasswd ? `auth:\n  htpasswd:\n    realm: wharf-e2e\n    path: ${o.htpasswd}\n` : '',
  });
}
