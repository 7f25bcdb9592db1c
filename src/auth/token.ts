/**
 * `auth.token`: Bearer JWTs from a Docker token server, verified like Distribution v3 and v2.8 both.
 * The signing key comes from an `x5c` chain that verifies to `rootcertbundle`, else a `kid` matched against the
 * bundle's keys (RFC 7638 thumbprint or libtrust key id) or the `jwks` file. `alg: none` and HMAC algorithms are
 * never accepted. `iss` must equal `issuer`, `aud` must contain `service`, `exp` is required; exp/nbf get 60 s leeway.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { compactVerify } from 'jose';
import type { Logger } from 'pino';
import { describeFsError } from '../config/files.js';
import type { Access } from './access.js';
import { challenge, type AccessController, type AuthResult } from './controller.js';
import { jwkThumbprint, libtrustKeyId, parsePemBundle, verifyChain } from './keys.js';
import { scopeParam } from './scope.js';

export const LEEWAY_SECONDS = 60;
const ASYMMETRIC_ALGORITHMS = [
  'EdDSA',
  'Ed25519',
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
];
/** Names Distribution accepts in `signingalgorithms`; HMAC ones parse but can never verify with a public key. */
const KNOWN_ALGORITHMS = [...ASYMMETRIC_ALGORITHMS, 'HS256', 'HS384', 'HS512'];

export interface TokenOptions {
  realm: string;
  service: string;
  issuer: string;
  rootcertbundle?: string;
  jwks?: string;
  autoredirect: boolean;
  autoredirectpath: string;
  signingalgorithms?: string[];
  log: Logger;
}

interface ResourceActions {
  type: string;
  name: string;
  actions: string[];
}

interface Claims {
  iss?: unknown;
  sub?: unknown;
  aud?: unknown;
  exp?: unknown;
  nbf?: unknown;
  access?: unknown;
}

/** Why a token is refused; the underlying failure (JSON, jose) stays reachable as `cause`. */
class InvalidToken extends Error {}

function decodeJson(part: string): Record<string, unknown> {
  const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidToken('not a JSON object');
  return v as Record<string, unknown>;
}

export class TokenAccess implements AccessController {
  readonly name = 'token';
  /** A token grants named repositories only. */
  readonly readsAll = false;
  private roots: ReturnType<typeof parsePemBundle> = [];
  private readonly trusted = new Map<string, KeyObject>();
  private readonly algorithms: string[];
  private readonly verified = new Map<string, { sub: string; exp: number; access: ResourceActions[] }>();

  private constructor(private readonly opts: TokenOptions) {
    const configured = opts.signingalgorithms ?? ASYMMETRIC_ALGORITHMS;
    for (const a of configured)
      if (!KNOWN_ALGORITHMS.includes(a))
        throw new Error(`auth.token.signingalgorithms: unsupported signing algorithm ${JSON.stringify(a)}`);
    this.algorithms = configured.filter((a) => ASYMMETRIC_ALGORITHMS.includes(a));
  }

  static async create(opts: TokenOptions): Promise<TokenAccess> {
    const t = new TokenAccess(opts);
    await t.loadKeys();
    return t;
  }

  private async loadKeys(): Promise<void> {
    const { rootcertbundle, jwks } = this.opts;
    this.trusted.clear();
    if (rootcertbundle) {
      let pem: string;
      try {
        pem = readFileSync(rootcertbundle, 'utf8');
      } catch (err) {
        throw new Error(`auth.token.rootcertbundle: cannot read ${rootcertbundle}: ${describeFsError(err)}`, {
          cause: err,
        });
      }
      this.roots = parsePemBundle(pem);
      for (const cert of this.roots) {
        const key = cert.publicKey;
        this.trusted.set(await jwkThumbprint(key), key);
        this.trusted.set(libtrustKeyId(key), key);
      }
    }
    if (jwks) {
      let set: { keys?: Array<Record<string, unknown>> };
      try {
        set = JSON.parse(readFileSync(jwks, 'utf8')) as typeof set;
      } catch (err) {
        throw new Error(`auth.token.jwks: cannot read ${jwks}: ${describeFsError(err)}`, { cause: err });
      }
      for (const jwk of set.keys ?? []) {
        const { d: _private, ...pub } = jwk;
        const key = createPublicKey({ key: pub as never, format: 'jwk' });
        if (typeof jwk.kid === 'string') this.trusted.set(jwk.kid, key);
        this.trusted.set(await jwkThumbprint(key), key);
      }
    }
    if (this.roots.length === 0 && this.trusted.size === 0)
      throw new Error('auth.token: token auth requires at least one token signing key (rootcertbundle or jwks)');
    this.verified.clear();
  }

  async reload(): Promise<void> {
    await this.loadKeys();
  }

  private realm(req: IncomingMessage): string {
    if (!this.opts.autoredirect) return this.opts.realm;
    const proto = (req.headers['x-forwarded-proto'] as string | undefined)?.split(',')[0].trim() || 'https';
    const host = req.headers.host ?? (req.headers[':authority'] as string | undefined) ?? 'localhost';
    return `${proto}://${host}${this.opts.autoredirectpath}`;
  }

  private challengeFor(
    req: IncomingMessage,
    access: Access[],
    error?: 'invalid_token' | 'insufficient_scope',
    user?: string,
  ): AuthResult {
    let h = `Bearer realm=${JSON.stringify(this.realm(req))},service=${JSON.stringify(this.opts.service)}`;
    const scope = scopeParam(access);
    if (scope) h += `,scope=${JSON.stringify(scope)}`;
    if (error) h += `,error=${JSON.stringify(error)}`;
    return challenge(
      access,
      h,
      error === undefined ? 'missing' : error === 'invalid_token' ? 'invalid' : 'scope',
      user,
    );
  }

  async authorize(req: IncomingMessage, access: Access[]): Promise<AuthResult> {
    const h = req.headers.authorization ?? '';
    const sp = h.indexOf(' ');
    const raw = sp > 0 ? h.slice(sp + 1).trim() : '';
    if (sp < 0 || raw === '' || h.slice(0, sp).toLowerCase() !== 'bearer') return this.challengeFor(req, access);

    let token;
    try {
      token = await this.verify(raw);
    } catch (err) {
      this.opts.log.info({ reason: (err as Error).message }, 'token: refused');
      return this.challengeFor(req, access, 'invalid_token');
    }
    for (const a of access) {
      const ok = token.access.some(
        (r) => r.type === a.type && r.name === a.name && (r.actions.includes(a.action) || r.actions.includes('*')),
      );
      if (!ok) return this.challengeFor(req, access, 'insufficient_scope', token.sub);
    }
    return { granted: true, user: token.sub };
  }

  /** Verifies signature and claims; throws with the reason. Verified tokens are remembered until they expire. */
  async verify(raw: string, now = Date.now()): Promise<{ sub: string; exp: number; access: ResourceActions[] }> {
    const cached = this.verified.get(raw);
    if (cached && now / 1000 <= cached.exp + LEEWAY_SECONDS) return cached;

    const parts = raw.split('.');
    if (parts.length !== 3) throw new InvalidToken('malformed token');
    let header: Record<string, unknown>;
    let claims: Claims;
    try {
      header = decodeJson(parts[0]);
      claims = decodeJson(parts[1]);
    } catch (err) {
      throw new InvalidToken('malformed token', { cause: err });
    }
    const alg = header.alg;
    if (typeof alg !== 'string' || !this.algorithms.includes(alg))
      throw new InvalidToken(`signing algorithm ${JSON.stringify(alg)} is not accepted`);

    if (claims.iss !== this.opts.issuer) throw new InvalidToken(`untrusted issuer ${JSON.stringify(claims.iss)}`);
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(this.opts.service))
      throw new InvalidToken(`token intended for another audience: ${JSON.stringify(claims.aud)}`);
    const t = now / 1000;
    if (typeof claims.exp !== 'number') throw new InvalidToken('token has no exp claim');
    if (t > claims.exp + LEEWAY_SECONDS) throw new InvalidToken('token expired');
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || t < claims.nbf - LEEWAY_SECONDS))
      throw new InvalidToken('token not valid yet');

    const key = await this.signingKey(header, now);
    try {
      await compactVerify(raw, key, { algorithms: [alg] });
    } catch (err) {
      throw new InvalidToken(`bad signature: ${(err as Error).message}`, { cause: err });
    }

    const access: ResourceActions[] = [];
    if (Array.isArray(claims.access)) {
      for (const r of claims.access as Array<Record<string, unknown>>) {
        if (r && typeof r.type === 'string' && typeof r.name === 'string' && Array.isArray(r.actions)) {
          access.push({
            type: r.type,
            name: r.name,
            actions: r.actions.filter((x): x is string => typeof x === 'string'),
          });
        }
      }
    }
    const result = { sub: typeof claims.sub === 'string' ? claims.sub : '', exp: claims.exp, access };
    if (this.verified.size >= 10_000) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(raw, result);
    return result;
  }

  private async signingKey(header: Record<string, unknown>, now: number): Promise<KeyObject> {
    if (Array.isArray(header.x5c) && header.x5c.length > 0) {
      if (!header.x5c.every((c) => typeof c === 'string')) throw new InvalidToken('malformed x5c');
      const leaf = verifyChain(header.x5c as string[], this.roots, now);
      if (!leaf) throw new InvalidToken('certificate chain does not verify to rootcertbundle');
      return leaf.publicKey;
    }
    if (header.jwk && typeof header.jwk === 'object') {
      const key = createPublicKey({ key: header.jwk as never, format: 'jwk' });
      const id = await jwkThumbprint(key);
      const trusted = this.trusted.get(id) ?? this.trusted.get(libtrustKeyId(key));
      if (!trusted) throw new InvalidToken('untrusted JWK in token header');
      return trusted;
    }
    if (typeof header.kid === 'string' && header.kid !== '') {
      const key = this.trusted.get(header.kid);
      if (!key) throw new InvalidToken(`token signed by untrusted key with ID ${JSON.stringify(header.kid)}`);
      return key;
    }
    throw new InvalidToken('unable to get token signing key');
  }
}
