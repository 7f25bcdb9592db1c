/**
 * HTTPS settings from `http.tls`: certificate and key (checked to match), client CAs with Distribution's
 * `clientauth` modes, `minimumtls`, Go-named `ciphersuites`, hot reload of the certificate files, and
 * Distribution's 400 answer to plain HTTP sent to the TLS port.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync, unwatchFile, watchFile } from 'node:fs';
import type { Socket } from 'node:net';
import { DEFAULT_CIPHERS, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { describeFsError } from '../config/files.js';

export interface TlsSettings {
  certificate?: string;
  key?: string;
  clientcas: readonly string[];
  clientauth?: ClientAuth;
  minimumtls: 'tls1.0' | 'tls1.1' | 'tls1.2' | 'tls1.3';
  ciphersuites: readonly string[];
}

export type ClientAuth =
  'request-client-cert' | 'require-any-client-cert' | 'verify-client-cert-if-given' | 'require-and-verify-client-cert';

/** Go's cipher suite names (as Distribution reads them) -> OpenSSL's. */
const CIPHERS: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_AES_128_GCM_SHA256: 'TLS_AES_128_GCM_SHA256',
  TLS_AES_256_GCM_SHA384: 'TLS_AES_256_GCM_SHA384',
  TLS_CHACHA20_POLY1305_SHA256: 'TLS_CHACHA20_POLY1305_SHA256',
};

/** Node's default TLS 1.2 cipher list (what follows its TLS 1.3 suites in DEFAULT_CIPHERS). */
const DEFAULT_TLS12 = DEFAULT_CIPHERS.split(':').filter((n) => !n.startsWith('TLS_'));
/** TLS 1.3 suites in the server's order of preference. */
const TLS13_ORDER = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer[];
  /** The leaf certificate, for expiry checks. */
  leaf: X509Certificate;
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`http.tls.${what}: cannot read ${path}: ${describeFsError(err)}`, { cause: err });
  }
}

/** Reads and checks the certificate, key and client CAs; throws with the key path and the reason. */
export function loadTlsMaterial(s: TlsSettings): TlsMaterial {
  const cert = read(s.certificate!, 'certificate');
  const key = read(s.key!, 'key');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`http.tls.certificate: ${s.certificate} is not a PEM certificate: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new Error(`http.tls.key: ${s.key} is not a PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (!leaf.checkPrivateKey(privateKey))
    throw new Error(`http.tls.key: ${s.key} does not match the certificate ${s.certificate}`);
  const ca = s.clientcas.map((p, i) => {
    const b = read(p, `clientcas.${i}`);
    try {
      new X509Certificate(b);
    } catch (err) {
      throw new Error(`http.tls.clientcas.${i}: ${p} is not a PEM certificate: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return b;
  });
  return { cert, key, ca: ca.length > 0 ? ca : undefined, leaf };
}

/** Problems worth a warning but not a refusal: expiry, a key readable by others, old protocol versions. */
export function tlsWarnings(s: TlsSettings, m: TlsMaterial, now = Date.now()): string[] {
  const out: string[] = [];
  if (Date.parse(m.leaf.validTo) < now)
    out.push(`http.tls.certificate: ${s.certificate} expired on ${m.leaf.validTo}; clients will refuse it`);
  else if (Date.parse(m.leaf.validTo) < now + 14 * 86_400_000)
    out.push(`http.tls.certificate: ${s.certificate} expires on ${m.leaf.validTo}`);
  if (Date.parse(m.leaf.validFrom) > now)
    out.push(`http.tls.certificate: ${s.certificate} is not valid before ${m.leaf.validFrom}`);
  try {
    const mode = statSync(s.key!).mode & 0o777;
    if (mode & 0o077)
      out.push(`http.tls.key: ${s.key} is readable by group or others (mode ${mode.toString(8)}); chmod 600 it`);
  } catch {
    /* read errors are reported by loadTlsMaterial */
  }
  if (s.minimumtls === 'tls1.0' || s.minimumtls === 'tls1.1')
    out.push(`http.tls.minimumtls: ${s.minimumtls} is insecure and not supported; using tls1.2`);
  return out;
}

/** Node TLS server options for the settings and material. */
export function tlsServerOptions(
  s: TlsSettings,
  m: TlsMaterial,
): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  const mode = clientAuthMode(s);
  const opts: SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } = {
    cert: m.cert,
    key: m.key,
    ca: m.ca,
    minVersion: s.minimumtls === 'tls1.3' ? 'TLSv1.3' : 'TLSv1.2',
    requestCert: mode !== null,
    rejectUnauthorized: mode === 'require-and-verify-client-cert',
  };
  // Go's server order, which Distribution serves with (AES-128-GCM first where the CPU has AES instructions), so
  // clients get the suite they got from Distribution. Node's default list puts AES-256-GCM first (more AES rounds;
  // within the noise on AES-NI: docs/performance.md).
  let v12 = DEFAULT_TLS12;
  if (s.ciphersuites.length > 0) {
    // TLS 1.3 suites are accepted and, as in Go (and so Distribution), not configurable.
    v12 = s.ciphersuites
      .map((c) => {
        const n = CIPHERS[c];
        if (!n) throw new Error(`http.tls.ciphersuites: unknown cipher suite ${JSON.stringify(c)}`);
        return n;
      })
      .filter((n) => !n.startsWith('TLS_'));
    if (v12.length === 0) v12 = DEFAULT_TLS12;
  }
  opts.ciphers = [...TLS13_ORDER, ...v12].join(':');
  opts.honorCipherOrder = true;
  return opts;
}

/** The client certificate mode: Distribution requires and verifies client certificates when clientcas is set. */
export function clientAuthMode(s: TlsSettings): ClientAuth | null {
  if (s.clientauth) return s.clientauth;
  return s.clientcas.length > 0 ? 'require-and-verify-client-cert' : null;
}

/** Enforces the modes Node's TLS options cannot express by themselves, once the handshake is done. */
export function enforceClientAuth(mode: ClientAuth | null, socket: TLSSocket): void {
  if (mode === 'require-any-client-cert' || mode === 'verify-client-cert-if-given') {
    const peer = socket.getPeerCertificate();
    const presented = peer && Object.keys(peer).length > 0;
    if (mode === 'require-any-client-cert' && !presented) socket.destroy();
    if (mode === 'verify-client-cert-if-given' && presented && !socket.authorized) socket.destroy();
  }
}

/**
 * Watches the certificate, key and client CA files and calls `apply` with freshly loaded material when they
 * change. A broken new set (unreadable, not PEM, key not matching) keeps the old one serving and is logged.
 */
export function watchTlsFiles(
  s: TlsSettings,
  log: Logger,
  apply: (m: TlsMaterial) => void,
  intervalMs = 1000,
): () => void {
  const files = [s.certificate!, s.key!, ...s.clientcas];
  let timer: NodeJS.Timeout | null = null;
  const onChange = () => {
    // Renewal tools write the certificate and key one after the other: settle before reloading.
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      try {
        const m = loadTlsMaterial(s);
        apply(m);
        for (const w of tlsWarnings(s, m)) log.warn(w);
        log.info(
          { certificate: s.certificate, notAfter: m.leaf.validTo, subject: m.leaf.subject },
          'tls: certificate reloaded',
        );
      } catch (err) {
        log.error(
          { err: (err as Error).message },
          'tls: the changed certificate files are not usable; still serving the previous certificate',
        );
      }
    }, 200);
  };
  for (const f of files) watchFile(f, { interval: intervalMs, persistent: false }, onChange);
  return () => {
    if (timer) clearTimeout(timer);
    for (const f of files) unwatchFile(f, onChange);
  };
}

/** The first five bytes of a plain HTTP request Go's net/http recognises on its TLS port (tlsRecordHeaderLooksLikeHTTP). */
const HTTP_STARTS = new Set(['GET /', 'HEAD ', 'POST ', 'PUT /', 'OPTIO']);
/** Distribution's answer to them, byte for byte (Go writes it on the raw connection, then closes it). */
export const PLAIN_HTTP_ANSWER = 'HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n';
/** How long a connection may stay silent before its first bytes (Node's own TLS handshake timeout). */
const FIRST_BYTES_TIMEOUT_MS = 120_000;

/**
 * Puts a look at each connection's first bytes in front of a TLS (HTTPS or HTTP/2) server: a TLS record (a
 * ClientHello starts with 0x16) goes on to the server's own TLS handling, untouched; a plain HTTP request gets
 * Distribution's 400 instead of a silently closed connection. Anything else goes to TLS, which refuses it as Go does.
 * The server keeps listening itself, so ALPN, setSecureContext (certificate reload) and close() work as before.
 */
export function answerPlainHttp(server: TlsServer): void {
  const tlsListeners = server.listeners('connection') as Array<(socket: Socket) => void>;
  if (tlsListeners.length !== 1)
    throw new Error('answerPlainHttp: expected the TLS server to have its one connection listener');
  const [toTls] = tlsListeners;
  server.removeListener('connection', toTls);
  server.on('connection', (socket: Socket) => {
    let seen: Buffer = Buffer.alloc(0);
    const onError = () => socket.destroy();
    const onTimeout = () => socket.destroy();
    const onData = (chunk: Buffer) => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      if (seen[0] !== 0x16 && seen.length < 5) return;
      socket.removeListener('data', onData);
      socket.removeListener('timeout', onTimeout);
      socket.setTimeout(0);
      socket.pause();
      if (seen[0] !== 0x16 && HTTP_STARTS.has(seen.subarray(0, 5).toString('latin1'))) {
        socket.setTimeout(5000, () => socket.destroy());
        socket.end(PLAIN_HTTP_ANSWER);
        return;
      }
      socket.removeListener('error', onError);
      socket.unshift(seen);
      toTls.call(server, socket);
    };
    socket.on('error', onError);
    socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, onTimeout);
    socket.on('data', onData);
  });
}
