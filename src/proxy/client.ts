/**
 * The HTTP client of one upstream registry: the client side of Distribution's auth (a 401 challenge answered with
 * Basic credentials, or with a Bearer token fetched from the challenge's realm and cached per scope until it
 * expires), redirects (blob downloads usually go to a CDN; credentials never follow to another origin), and a
 * timeout on every request that sends nothing for `timeoutMs`. Bodies are handed over unread, as streams.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { parseChallenges, type Challenge } from './challenge.js';
import type { CredentialSource } from './credentials.js';

/** The upstream could not be asked (refused, reset, timed out), or answered with an error status the caller did not expect. */
export class UpstreamError extends Error {
  constructor(
    readonly kind: 'unreachable' | 'status',
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'UpstreamError';
  }
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

export interface ClientOptions {
  url: URL;
  credentials: CredentialSource;
  timeoutMs: number;
  /** Every response's headers (rate-limit headers are read from them). */
  onHeaders?: (status: number, h: IncomingHttpHeaders) => void;
}

const USER_AGENT = 'wharf-proxy';
const MAX_REDIRECTS = 5;
/** Tokens are renewed this long before they expire. */
const TOKEN_MARGIN_MS = 10_000;

/** Hosts that may receive the upstream's credentials: its own, or a sibling under the same parent domain (auth.docker.io for registry-1.docker.io). */
export function realmAllowed(upstream: URL, realm: URL): boolean {
  const a = upstream.hostname.toLowerCase();
  const b = realm.hostname.toLowerCase();
  if (a === b) return true;
  if (/^[\d.]+$|:/.test(a) || /^[\d.]+$|:/.test(b) || a === 'localhost' || b === 'localhost') return false;
  const pa = a.split('.');
  const pb = b.split('.');
  if (pa.length < 2 || pb.length < 2) return false;
  // A two-level public suffix (co.uk, com.au) is not a registrable domain: require three shared labels then.
  const shortSuffix = pa[pa.length - 1].length === 2 && /^(co|com|net|org|gov|edu|ac|or|ne)$/.test(pa[pa.length - 2]);
  const n = shortSuffix ? 3 : 2;
  return pa.length >= n && pb.length >= n && pa.slice(-n).join('.') === pb.slice(-n).join('.');
}

export class UpstreamClient {
  private readonly agents = {
    'http:': new HttpAgent({ keepAlive: true, maxSockets: 64 }),
    'https:': new HttpsAgent({ keepAlive: true, maxSockets: 64 }),
  };
  private challenge: Challenge | null = null;
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  private readonly pendingTokens = new Map<string, Promise<string>>();

  constructor(private readonly opts: ClientOptions) {}

  /**
   * `method path` on the upstream with pull access to `scope` (`repository:<name>:pull`), authenticating as its
   * challenge asks. Any status is returned; only a failure to get an answer throws (UpstreamError 'unreachable').
   */
  async request(
    method: 'GET' | 'HEAD',
    path: string,
    scope: string | null,
    headers: Record<string, string> = {},
  ): Promise<UpstreamResponse> {
    const url = new URL(path, this.opts.url);
    const base = { 'User-Agent': USER_AGENT, ...headers };
    let auth = await this.authorization(scope, false);
    let res = await this.follow(method, url, auth ? { ...base, Authorization: auth } : base);
    if (res.status === 401) {
      const challenges = parseChallenges(res.headers['www-authenticate']);
      const next =
        challenges.find((c) => c.scheme === 'bearer' && c.params.realm) ?? challenges.find((c) => c.scheme === 'basic');
      if (next) {
        this.challenge = next;
        auth = await this.authorization(scope, true);
        if (auth) {
          res.body.resume();
          res = await this.follow(method, url, { ...base, Authorization: auth });
        }
      }
    }
    return res;
  }

  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }

  private async authorization(scope: string | null, renew: boolean): Promise<string | null> {
    const c = this.challenge;
    if (!c) return null;
    if (c.scheme === 'basic') {
      const creds = await this.opts.credentials.get(this.opts.url.host);
      return creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : null;
    }
    const key = `${c.params.realm} ${c.params.service ?? ''} ${scope ?? ''}`;
    const cached = this.tokens.get(key);
    if (!renew && cached && cached.expires > Date.now()) return `Bearer ${cached.token}`;
    let pending = this.pendingTokens.get(key);
    if (!pending) {
      pending = this.fetchToken(c, scope).finally(() => this.pendingTokens.delete(key));
      this.pendingTokens.set(key, pending);
    }
    return `Bearer ${await pending}`;
  }

  /** Docker's token flow: GET <realm>?service=..&scope=.., Basic credentials when the realm may see them. */
  private async fetchToken(c: Challenge, scope: string | null): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(c.params.realm);
    } catch {
      throw new UpstreamError('status', `upstream sent an invalid token realm ${JSON.stringify(c.params.realm)}`, 401);
    }
    if (c.params.service) realm.searchParams.set('service', c.params.service);
    if (scope) realm.searchParams.set('scope', scope);
    const headers: Record<string, string> = { 'User-Agent': USER_AGENT, Accept: 'application/json' };
    const creds = realmAllowed(this.opts.url, realm) ? await this.opts.credentials.get(realm.host) : null;
    if (creds) headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    const res = await this.follow('GET', realm, headers);
    const text = await readSmall(res.body, 1 << 20);
    if (res.status !== 200)
      throw new UpstreamError(
        'status',
        `token server ${realm.host} answered ${res.status}`,
        res.status === 401 || res.status === 403 ? 401 : res.status,
      );
    let body: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new UpstreamError('status', `token server ${realm.host} sent no JSON`, 502);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new UpstreamError('status', `token server ${realm.host} sent no token`, 502);
    // Distribution's client: 60 s when the server names no lifetime.
    const lifetimeMs = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60) * 1000;
    const issued = body.issued_at ? Date.parse(body.issued_at) : NaN;
    const start = Number.isFinite(issued) && issued <= Date.now() ? issued : Date.now();
    this.tokens.set(`${c.params.realm} ${c.params.service ?? ''} ${scope ?? ''}`, {
      token,
      expires: start + lifetimeMs - Math.min(TOKEN_MARGIN_MS, lifetimeMs / 2),
    });
    return token;
  }

  private async follow(
    method: 'GET' | 'HEAD',
    url: URL,
    headers: Record<string, string>,
    hops = 0,
  ): Promise<UpstreamResponse> {
    const res = await this.send(method, url, headers);
    const location = res.headers.location;
    if (res.status >= 300 && res.status < 400 && res.status !== 304 && location && hops < MAX_REDIRECTS) {
      res.body.resume();
      const next = new URL(location, url);
      const h = { ...headers };
      if (next.origin !== url.origin) delete h.Authorization;
      return this.follow(method, next, h, hops + 1);
    }
    return res;
  }

  private send(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>): Promise<UpstreamResponse> {
    return new Promise((resolve, reject) => {
      const proto = url.protocol === 'https:' ? 'https:' : 'http:';
      const req = (proto === 'https:' ? httpsRequest : httpRequest)(
        url,
        { method, headers, agent: this.agents[proto] },
        (body) => {
          this.opts.onHeaders?.(body.statusCode ?? 0, body.headers);
          resolve({ status: body.statusCode ?? 0, headers: body.headers, body });
        },
      );
      req.setTimeout(this.opts.timeoutMs, () =>
        req.destroy(new UpstreamError('unreachable', `${url.host}: no answer within ${this.opts.timeoutMs} ms`)),
      );
      req.once('error', (err) =>
        reject(
          err instanceof UpstreamError
            ? err
            : new UpstreamError(
                'unreachable',
                `${url.host}: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
                undefined,
                { cause: err },
              ),
        ),
      );
      req.end();
    });
  }
}

/** A small body (token answer, manifest, error), refusing more than `limit` bytes. */
export async function readSmall(body: IncomingMessage, limit: number): Promise<string> {
  return (await readSmallBytes(body, limit)).toString('utf8');
}

export async function readSmallBytes(body: IncomingMessage, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of body) {
      n += (chunk as Buffer).length;
      if (n > limit) {
        body.destroy();
        throw new UpstreamError('status', `upstream body larger than ${limit} bytes`, 502);
      }
      parts.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof UpstreamError) throw err;
    throw new UpstreamError('unreachable', `upstream body broken: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  }
  return Buffer.concat(parts, n);
}
