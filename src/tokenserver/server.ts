/**
 * The built-in Docker token server (the "token" auth protocol): GET with optional Basic credentials and
 * `service`/`scope` query parameters, and the OAuth2 POST form (`grant_type=password` / `refresh_token`).
 * Users come from an htpasswd file; a token grants the intersection of what was asked and what the access rules
 * allow (without rules: everything asked to any authenticated user, nothing to anonymous). Tokens are JWTs signed
 * with `x5c` (the certificate) and `kid` (libtrust id), so both wharf and Distribution 2.8/3 accept them.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jwtVerify, SignJWT } from 'jose';
import type { Logger } from 'pino';
import type { Access } from '../auth/access.js';
import { basicCredentials, clientAddress } from '../auth/controller.js';
import type { AccessPolicy } from '../auth/policy.js';
import type { SigningKey } from './keys.js';

/** Checks a user's password, throttled and counting failures (src/auth/bruteforce.ts); an empty user name is refused uncounted. */
export interface UserVerifier {
  verify(
    user: string,
    password: string,
    address: string | undefined,
  ): Promise<{ ok: true } | { ok: false; retryAfter?: number }>;
  /** Whether the user still exists (checked when a refresh token is used). */
  exists(user: string): Promise<boolean>;
}

export interface TokenServerOptions {
  issuer: string;
  service: string;
  /** Access token lifetime, ms. */
  expirationMs: number;
  /** Refresh token lifetime, ms. */
  refreshExpirationMs: number;
  key: SigningKey;
  users: UserVerifier;
  policy?: AccessPolicy;
  log: Logger;
}

export interface ResourceActions {
  type: string;
  name: string;
  actions: string[];
}

/** `repository:foo/bar:pull,push`, `repository(plugin):x:pull`, `registry:catalog:*`; names may contain ':'. */
export function parseScope(scope: string): ResourceActions | null {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return null;
  const type = scope.slice(0, first).replace(/\(.*\)$/, '');
  const name = scope.slice(first + 1, last);
  const actions = scope
    .slice(last + 1)
    .split(',')
    .filter((a) => a !== '');
  if (!name || actions.length === 0) return null;
  return { type, name, actions };
}

const REFRESH_AUDIENCE_SUFFIX = '#refresh';

class TokenError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(String(body.error ?? body.details ?? 'error'));
  }
}

/** The largest token request form accepted (a password grant is a few hundred bytes). */
const MAX_FORM_BYTES = 64 * 1024;

export class TokenServer {
  constructor(private readonly opts: TokenServerOptions) {}

  /** What `account` (null: anonymous) gets of what it asked. */
  grant(account: string | null, requested: ResourceActions[]): ResourceActions[] {
    const out: ResourceActions[] = [];
    for (const r of requested) {
      const actions = r.actions.filter((action) => {
        if (!this.opts.policy) return account !== null;
        const a: Access = { type: r.type === 'registry' ? 'registry' : 'repository', class: '', name: r.name, action };
        if (r.type !== 'registry' && r.type !== 'repository') return false;
        if (action === '*' && r.type === 'repository')
          return ['pull', 'push', 'delete'].every((x) => this.opts.policy!.allows(account, { ...a, action: x }));
        return this.opts.policy.allows(account, a);
      });
      if (actions.length > 0) out.push({ type: r.type, name: r.name, actions });
    }
    return out;
  }

  private async sign(sub: string, access: ResourceActions[], now: number): Promise<string> {
    const { key } = this.opts;
    return new SignJWT({ access })
      .setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: key.kid, x5c: key.x5c })
      .setIssuer(this.opts.issuer)
      .setSubject(sub)
      .setAudience(this.opts.service)
      .setIssuedAt(Math.floor(now / 1000))
      .setNotBefore(Math.floor(now / 1000) - 1)
      .setExpirationTime(Math.floor((now + this.opts.expirationMs) / 1000))
      .setJti(randomUUID())
      .sign(key.privateKey);
  }

  private async signRefresh(sub: string, now: number): Promise<string> {
    const { key } = this.opts;
    return (
      new SignJWT({})
        .setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: key.kid })
        .setIssuer(this.opts.issuer)
        .setSubject(sub)
        // A distinct audience: a refresh token is never accepted as a registry bearer token.
        .setAudience(this.opts.service + REFRESH_AUDIENCE_SUFFIX)
        .setIssuedAt(Math.floor(now / 1000))
        .setExpirationTime(Math.floor((now + this.opts.refreshExpirationMs) / 1000))
        .setJti(randomUUID())
        .sign(key.privateKey)
    );
  }

  private async userOfRefreshToken(token: string): Promise<string> {
    try {
      const { payload } = await jwtVerify(token, this.opts.key.certificate.publicKey, {
        issuer: this.opts.issuer,
        audience: this.opts.service + REFRESH_AUDIENCE_SUFFIX,
        algorithms: [this.opts.key.alg],
        requiredClaims: ['exp', 'sub'],
      });
      const user = payload.sub!;
      if (!(await this.opts.users.exists(user))) throw new Error('user no longer exists');
      return user;
    } catch {
      throw new TokenError(400, { error: 'invalid_grant', error_description: 'invalid or expired refresh token' });
    }
  }

  private async login(user: string, password: string, address: string | undefined): Promise<void> {
    const r = await this.opts.users.verify(user, password, address);
    if (r.ok) return;
    if (r.retryAfter)
      throw new TokenError(
        429,
        {
          errors: [
            { code: 'TOOMANYREQUESTS', message: `too many failed login attempts; retry after ${r.retryAfter} seconds` },
          ],
        },
        { 'Retry-After': String(r.retryAfter) },
      );
    this.opts.log.warn({ user, remote: address }, 'tokenserver: authentication failed');
    throw new TokenError(
      401,
      { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
      { 'WWW-Authenticate': `Basic realm=${JSON.stringify(this.opts.service)}` },
    );
  }

  private checkService(service: string | null): void {
    if (service !== null && service !== '' && service !== this.opts.service) {
      throw new TokenError(400, {
        error: 'invalid_request',
        error_description: `unknown service ${JSON.stringify(service)}`,
      });
    }
  }

  /** Answers one token request. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = req.method === 'POST' ? await this.post(req) : req.method === 'GET' ? await this.get(req) : null;
      if (!body) throw new TokenError(405, { error: 'method not allowed' }, { Allow: 'GET, POST' });
      send(res, 200, body, { 'Cache-Control': 'no-store' });
    } catch (err) {
      if (err instanceof TokenError) return send(res, err.status, err.body, err.headers);
      this.opts.log.error({ err }, 'tokenserver: request failed');
      send(res, 500, { errors: [{ code: 'UNKNOWN', message: 'unknown error' }] });
    }
  }

  private async get(req: IncomingMessage): Promise<Record<string, unknown>> {
    const q = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    this.checkService(q.get('service'));
    const creds = basicCredentials(req);
    let account: string | null = null;
    // Empty Basic credentials (podman and skopeo when not logged in) ask for an anonymous token: no login, nothing counted.
    if (creds && creds.user !== '') {
      await this.login(creds.user, creds.password, clientAddress(req));
      account = creds.user;
    }
    const requested = q
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .map(parseScope)
      .filter((s): s is ResourceActions => s !== null);
    const now = Date.now();
    const granted = this.grant(account, requested);
    const token = await this.sign(account ?? '', granted, now);
    const out: Record<string, unknown> = {
      token,
      access_token: token,
      expires_in: Math.floor(this.opts.expirationMs / 1000),
      issued_at: new Date(now).toISOString(),
    };
    if (account !== null && q.get('offline_token') === 'true') out.refresh_token = await this.signRefresh(account, now);
    this.opts.log.info(
      { user: account ?? 'anonymous', granted: granted.map((g) => `${g.type}:${g.name}:${g.actions.join(',')}`) },
      'tokenserver: issued token',
    );
    return out;
  }

  private async post(req: IncomingMessage): Promise<Record<string, unknown>> {
    // Decoded once, whole: a chunk boundary may split a UTF-8 sequence.
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_FORM_BYTES)
        throw new TokenError(400, { error: 'invalid_request', error_description: 'request too large' });
      parts.push(chunk);
    }
    const form = new URLSearchParams(Buffer.concat(parts, size).toString('utf8'));
    this.checkService(form.get('service'));
    const grantType = form.get('grant_type');
    let account: string;
    let refresh: string | undefined;
    if (grantType === 'password') {
      const user = form.get('username') ?? '';
      await this.login(user, form.get('password') ?? '', clientAddress(req));
      account = user;
      if (form.get('access_type') === 'offline') refresh = await this.signRefresh(account, Date.now());
    } else if (grantType === 'refresh_token') {
      const token = form.get('refresh_token') ?? '';
      account = await this.userOfRefreshToken(token);
      refresh = token;
    } else {
      throw new TokenError(400, {
        error: 'unsupported_grant_type',
        error_description: `grant_type must be password or refresh_token`,
      });
    }
    const requested = (form.get('scope') ?? '')
      .split(' ')
      .filter((s) => s !== '')
      .map(parseScope)
      .filter((s): s is ResourceActions => s !== null);
    const now = Date.now();
    const granted = this.grant(account, requested);
    const token = await this.sign(account, granted, now);
    const out: Record<string, unknown> = {
      access_token: token,
      expires_in: Math.floor(this.opts.expirationMs / 1000),
      issued_at: new Date(now).toISOString(),
      scope: granted.map((g) => `${g.type}:${g.name}:${g.actions.join(',')}`).join(' '),
    };
    if (refresh) out.refresh_token = refresh;
    return out;
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}
