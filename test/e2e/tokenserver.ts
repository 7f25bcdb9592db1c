/**
 * A small Docker token server for end-to-end tests of `auth.token`, plus the PKI it signs with.
 * `makePki` uses the real `openssl` to create a root CA, an EC intermediate issued by it, signing certificates
 * (RSA issued by the root, EC issued by the intermediate), two self-signed "kid" keys that go into the bundle,
 * and an unrelated CA (with the same subject name as the root) whose leaf must never be trusted.
 * `startTokenServer` answers `GET /token?service=..&scope=..` the way docker_auth does: Basic credentials checked
 * against its users (anonymous gets no access), the requested scopes granted up to each user's actions.
 */
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, SignJWT } from 'jose';
import { onPath } from './skopeo.js';

export const OPENSSL = onPath('openssl');
export const OPENSSL_MISSING =
  'openssl is not on PATH (needed to create the token signing PKI; apt-get install openssl)';

export interface ResourceActions {
  type: string;
  name: string;
  actions: string[];
}

/** How tokens are signed: the algorithm, the private key, and what the header names the key by. */
export interface Signer {
  alg: 'RS256' | 'ES256';
  key: KeyObject;
  header: { x5c?: string[]; kid?: string };
}

export interface Pki {
  /** root CA + the two kid certificates: what wharf's `rootcertbundle` points at. */
  bundlePath: string;
  /** RS256, x5c = [leaf issued by the root]. */
  rsaX5c: Signer;
  /** ES256, x5c = [leaf, intermediate issued by the root]. */
  ecX5c: Signer;
  /** RS256, kid = RFC 7638 thumbprint of a key whose certificate is in the bundle. */
  rsaThumbprintKid: Signer;
  /** ES256, kid = libtrust key id of a key whose certificate is in the bundle. */
  ecLibtrustKid: Signer;
  /** RS256, x5c = [leaf, CA] from a CA wharf does not trust. */
  rogueX5c: Signer;
  /** The RSA leaf's public key as PEM (the secret of the HS256 key-confusion attack). */
  rsaPublicPem: string;
}

function openssl(dir: string, args: string[]): void {
  if (!OPENSSL) throw new Error(OPENSSL_MISSING);
  execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The base64 DER of a PEM certificate, as x5c carries it. */
function x5cOf(pem: string): string {
  return new X509Certificate(pem).raw.toString('base64');
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** libtrust key id: SHA-256 of the DER SPKI, first 240 bits, base32 without padding, 12 groups of 4 joined by ':'. */
export function libtrustKid(key: KeyObject): string {
  const bytes = createHash('sha256')
    .update(createPublicKey(key).export({ type: 'spki', format: 'der' }))
    .digest()
    .subarray(0, 30);
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += B32[parseInt(bits.slice(i, i + 5), 2)];
  return out.match(/.{4}/g)!.join(':');
}

/** RFC 7638 JWK thumbprint (SHA-256) of the public half of `key`. */
export async function thumbprintKid(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(createPublicKey(key)), 'sha256');
}

export async function makePki(dir: string): Promise<Pki> {
  const rsa = ['-newkey', 'rsa:2048'];
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  writeFileSync(
    join(dir, 'ca.ext'),
    'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
  );
  writeFileSync(
    join(dir, 'leaf.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
  );
  const selfSigned = (name: string, newkey: string[], cn: string, ca: boolean) =>
    openssl(dir, [
      'req',
      '-x509',
      ...newkey,
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
      ...(ca
        ? ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']
        : []),
    ]);
  const issued = (name: string, newkey: string[], cn: string, issuer: string, ext: string) => {
    openssl(dir, [
      'req',
      '-new',
      ...newkey,
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ]);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${issuer}.pem`,
      '-CAkey',
      `${issuer}.key`,
      '-set_serial',
      String(Date.now() + name.length),
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      ext,
    ]);
  };
  selfSigned('root', rsa, 'wharf-e2e-root', true);
  issued('inter', ec, 'wharf-e2e-intermediate', 'root', 'ca.ext');
  issued('rsaleaf', rsa, 'wharf-e2e-token-rsa', 'root', 'leaf.ext');
  issued('ecleaf', ec, 'wharf-e2e-token-ec', 'inter', 'leaf.ext');
  // Same subject as the trusted root: only the signature can tell them apart.
  selfSigned('rogue', rsa, 'wharf-e2e-root', true);
  issued('rogueleaf', rsa, 'wharf-e2e-token-rsa', 'rogue', 'leaf.ext');
  selfSigned('kidrsa', rsa, 'wharf-e2e-kid-rsa', false);
  selfSigned('kidec', ec, 'wharf-e2e-kid-ec', false);

  const pem = (name: string) => readFileSync(join(dir, `${name}.pem`), 'utf8');
  const key = (name: string) => createPrivateKey(readFileSync(join(dir, `${name}.key`)));
  const bundlePath = join(dir, 'bundle.pem');
  writeFileSync(bundlePath, pem('root') + pem('kidrsa') + pem('kidec'));
  const kidRsaKey = key('kidrsa');
  const kidEcKey = key('kidec');
  return {
    bundlePath,
    rsaX5c: { alg: 'RS256', key: key('rsaleaf'), header: { x5c: [x5cOf(pem('rsaleaf'))] } },
    ecX5c: { alg: 'ES256', key: key('ecleaf'), header: { x5c: [x5cOf(pem('ecleaf')), x5cOf(pem('inter'))] } },
    rsaThumbprintKid: { alg: 'RS256', key: kidRsaKey, header: { kid: await thumbprintKid(kidRsaKey) } },
    ecLibtrustKid: { alg: 'ES256', key: kidEcKey, header: { kid: libtrustKid(kidEcKey) } },
    rogueX5c: { alg: 'RS256', key: key('rogueleaf'), header: { x5c: [x5cOf(pem('rogueleaf')), x5cOf(pem('rogue'))] } },
    rsaPublicPem: createPublicKey(key('rsaleaf')).export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Signs `claims` with `signer`; `header` adds to (or overrides) the protected header. */
export async function mint(
  signer: Signer,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: signer.alg, typ: 'JWT', ...signer.header, ...header })
    .sign(signer.key);
}

/** `repository:foo/bar:pull,push` -> {type, name, actions}; the name is everything between the first and last ':'. */
export function parseScope(scope: string): ResourceActions | null {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return null;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

export interface TokenServerOptions {
  issuer: string;
  service: string;
  /** Users and the actions each may be granted (anonymous requests are granted nothing). */
  users: Record<string, { password: string; actions: string[] }>;
  signer: Signer;
  /** Lifetime of issued tokens in seconds (default 300). */
  expiresIn?: number;
}

export interface TokenServer {
  /** The realm: `http://127.0.0.1:<port>/token`. */
  realm: string;
  /** Every request served: the account it authenticated (if any) and the scopes it asked for. */
  requests: Array<{ user?: string; scopes: string[]; service: string | null }>;
  /** Which key signs from now on. */
  signer: Signer;
  close(): Promise<void>;
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const ts: TokenServer = { realm: '', requests: [], signer: opts.signer, close: async () => {} };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://token');
      if (url.pathname !== '/token') {
        res.writeHead(404).end();
        return;
      }
      let user: string | undefined;
      const h = req.headers.authorization;
      if (h?.startsWith('Basic ')) {
        const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
        const i = decoded.indexOf(':');
        const u = opts.users[decoded.slice(0, i)];
        if (i < 0 || !u || u.password !== decoded.slice(i + 1)) {
          res
            .writeHead(401, { 'Content-Type': 'application/json' })
            .end(JSON.stringify({ details: 'incorrect username or password' }));
          return;
        }
        user = decoded.slice(0, i);
      }
      const scopes = url.searchParams
        .getAll('scope')
        .flatMap((s) => s.split(' '))
        .filter(Boolean);
      ts.requests.push({ user, scopes, service: url.searchParams.get('service') });
      const allowed = user ? opts.users[user].actions : [];
      const access: ResourceActions[] = [];
      for (const s of scopes) {
        const r = parseScope(s);
        if (!r) continue;
        const actions = r.actions.filter((a) => allowed.includes(a) || allowed.includes('*'));
        if (actions.length > 0) access.push({ ...r, actions });
      }
      const now = Math.floor(Date.now() / 1000);
      const expiresIn = opts.expiresIn ?? 300;
      const token = await mint(ts.signer, {
        iss: opts.issuer,
        sub: user ?? '',
        aud: opts.service,
        iat: now,
        nbf: now,
        exp: now + expiresIn,
        jti: `${now}-${ts.requests.length}`,
        access,
      });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(
        JSON.stringify({
          token,
          access_token: token,
          expires_in: expiresIn,
          issued_at: new Date(now * 1000).toISOString(),
        }),
      );
    })().catch((err: unknown) => {
      res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  ts.realm = `http://127.0.0.1:${(server.address() as { port: number }).port}/token`;
  ts.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return ts;
}
