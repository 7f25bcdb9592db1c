/**
 * The token signing key: loaded from `tokenserver.key` + `tokenserver.certificate`, or generated on first start
 * (ECDSA P-256 with a self-signed certificate, valid 10 years) and written there, so the certificate can be put
 * in `auth.token.rootcertbundle` of wharf or of Distribution.
 */
import 'reflect-metadata';
import { createPrivateKey, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as x509 from '@peculiar/x509';
import type { Logger } from 'pino';
import { libtrustKeyId } from '../auth/keys.js';

export interface SigningKey {
  privateKey: KeyObject;
  certificate: X509Certificate;
  /** JWS algorithm for the key type. */
  alg: 'ES256' | 'ES384' | 'RS256' | 'EdDSA';
  /** libtrust key id: what Distribution 2.8 and docker_auth put in `kid`. */
  kid: string;
  /** Base64 DER of the certificate, for the `x5c` header. */
  x5c: string[];
}

function algorithmFor(key: KeyObject): SigningKey['alg'] {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
  }
  throw new Error(
    `tokenserver.key: unsupported key type ${key.asymmetricKeyType} (use EC P-256/P-384, RSA or Ed25519)`,
  );
}

async function generate(keyPath: string, certPath: string): Promise<void> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8)))
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: 'CN=wharf token signer',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 10 * 365 * 86_400_000),
    keys: keys as CryptoKeyPair,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', (keys as CryptoKeyPair).privateKey));
  const pem = `-----BEGIN PRIVATE KEY-----\n${pkcs8
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END PRIVATE KEY-----\n`;
  mkdirSync(dirname(keyPath), { recursive: true, mode: 0o700 });
  mkdirSync(dirname(certPath), { recursive: true });
  writeFileSync(keyPath, pem, { mode: 0o600, flag: 'wx' });
  writeFileSync(certPath, cert.toString('pem') + '\n', { mode: 0o644, flag: 'wx' });
}

export async function loadOrCreateSigningKey(keyPath: string, certPath: string, log: Logger): Promise<SigningKey> {
  const haveKey = existsSync(keyPath);
  const haveCert = existsSync(certPath);
  if (haveKey !== haveCert) {
    throw new Error(
      `tokenserver: ${haveKey ? `tokenserver.certificate (${certPath})` : `tokenserver.key (${keyPath})`} is missing while the other exists; provide both, or neither to generate a new pair`,
    );
  }
  if (!haveKey) {
    await generate(keyPath, certPath);
    log.warn(
      { key: keyPath, certificate: certPath },
      'tokenserver: generated a new signing key and self-signed certificate; put the certificate in auth.token.rootcertbundle of every registry that accepts these tokens',
    );
  }
  let privateKey: KeyObject;
  let certificate: X509Certificate;
  try {
    privateKey = createPrivateKey(readFileSync(keyPath));
  } catch (err) {
    throw new Error(`tokenserver.key: cannot read a private key from ${keyPath}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    certificate = new X509Certificate(readFileSync(certPath));
  } catch (err) {
    throw new Error(`tokenserver.certificate: cannot read a certificate from ${certPath}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!certificate.checkPrivateKey(privateKey))
    throw new Error(`tokenserver.key: ${keyPath} does not match the certificate ${certPath}`);
  return {
    privateKey,
    certificate,
    alg: algorithmFor(privateKey),
    kid: libtrustKeyId(certificate.publicKey),
    x5c: [certificate.raw.toString('base64')],
  };
}
