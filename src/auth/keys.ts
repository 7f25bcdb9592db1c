/**
 * Key identifiers token servers put in `kid`: the RFC 7638 JWK thumbprint (Distribution v3) and the libtrust
 * key id (Distribution v2.8, docker_auth): SHA-256 of the DER public key, first 240 bits, base32, 12 groups of 4.
 */
import { createHash, type KeyObject, X509Certificate } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(buf: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

export function libtrustKeyId(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  const digest = createHash('sha256').update(der).digest().subarray(0, 30);
  return base32(digest).match(/.{4}/g)!.join(':');
}

export async function jwkThumbprint(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(key), 'sha256');
}

/** Certificates of a PEM bundle, in order. */
export function parsePemBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** Whether `cert` is valid at `now` (ms). */
export function certValidAt(cert: X509Certificate, now: number): boolean {
  return Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

/**
 * Verifies an x5c chain (leaf first, base64 DER) up to one of `roots`: each certificate is issued and signed by
 * the next, the last by a root (or is itself a root), all within their validity. Returns the leaf, or null.
 */
export function verifyChain(x5c: string[], roots: X509Certificate[], now = Date.now()): X509Certificate | null {
  let chain: X509Certificate[];
  try {
    chain = x5c.map((c) => new X509Certificate(Buffer.from(c, 'base64')));
  } catch {
    return null;
  }
  if (chain.length === 0 || !chain.every((c) => certValidAt(c, now))) return null;
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i].checkIssued(chain[i + 1]) || !chain[i].verify(chain[i + 1].publicKey)) return null;
  }
  const top = chain[chain.length - 1];
  const anchored = roots.some(
    (r) => certValidAt(r, now) && (r.raw.equals(top.raw) || (top.checkIssued(r) && top.verify(r.publicKey))),
  );
  return anchored ? chain[0] : null;
}
