/**
 * `auth.htpasswd`: Basic authentication against an htpasswd file that is re-read when it changes.
 * Unknown users are checked against a dummy hash of the same cost, so timing does not reveal who exists.
 * Verified credentials are cached briefly under an HMAC of user and password (never the plaintext), so repeated
 * requests do not each pay a full bcrypt; the cache is emptied whenever the file changes.
 */
import { hash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { describeFsError, fileState } from '../config/files.js';
import type { Access } from './access.js';
import type { BruteForceGuard } from './bruteforce.js';
import {
  basicCredentials,
  challenge,
  clientAddress,
  tooManyRequests,
  type AccessController,
  type AuthResult,
} from './controller.js';
import { bcryptCost, hashBcrypt, parseHtpasswd, verifyBcrypt } from './htpasswdfile.js';

export interface HtpasswdOptions {
  realm: string;
  path: string;
  log: Logger;
  guard: BruteForceGuard;
  /** The config key that names the file, for error messages (default: the file's path alone). */
  key?: string;
  /** How long a verified credential is remembered. */
  cacheTtlMs?: number;
  /** How often, at most, the file's modification time is checked. */
  checkIntervalMs?: number;
}

const MAX_CACHE = 10_000;

/**
 * Creates a missing htpasswd file as Distribution does: dir 0700, file 0600, user `docker` with a random password.
 * A path that is a directory or cannot be read is an error naming `key` and the path.
 */
export async function provisionHtpasswd(path: string, log: Logger, key = 'htpasswd'): Promise<void> {
  const state = fileState(key, path, 'an htpasswd file');
  if (state === 'file') return;
  if (typeof state === 'object') throw new Error(state.problem);
  const password = randomBytes(32).toString('base64url');
  const line = `docker:${await hashBcrypt(password, 10)}\n`;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, line);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new Error(`${key}: ${path} does not exist and cannot be created: ${describeFsError(err)}`, { cause: err });
  }
  log.warn(
    { user: 'docker', password, path },
    'htpasswd file is missing: created it with a default user; this password is shown only once',
  );
}

export class HtpasswdAccess implements AccessController {
  readonly name = 'htpasswd';
  readonly readsAll = true;
  private users = new Map<string, string>();
  private dummyHash = '';
  private fileKey = '';
  private lastCheck = 0;
  private checking: Promise<void> | null = null;
  private readonly cache = new Map<string, { user: string; expires: number }>();
  private readonly cacheKeyText = randomBytes(32).toString('base64');
  private readonly header: string;

  constructor(private readonly opts: HtpasswdOptions) {
    this.header = `Basic realm=${JSON.stringify(opts.realm)}`;
  }

  /** Loads the file (creating it when missing). Call once before serving. */
  async init(): Promise<void> {
    const key = this.opts.key ?? 'htpasswd';
    await provisionHtpasswd(this.opts.path, this.opts.log, key);
    try {
      await this.load();
    } catch (err) {
      throw new Error(`${key}: cannot read ${this.opts.path}: ${describeFsError(err)}`, { cause: err });
    }
  }

  private async load(): Promise<void> {
    const st = await stat(this.opts.path);
    const text = await readFile(this.opts.path, 'utf8');
    const parsed = parseHtpasswd(text);
    for (const p of parsed.problems) {
      this.opts.log.error(
        { path: this.opts.path, line: p.line, user: p.user },
        `htpasswd: line ${p.line}${p.user ? ` (user ${JSON.stringify(p.user)})` : ''}: ${p.message}`,
      );
    }
    const costs = [...parsed.users.values()].map(bcryptCost);
    const cost = costs.length > 0 ? Math.max(...costs) : 10;
    if (!this.dummyHash || bcryptCost(this.dummyHash) !== cost)
      this.dummyHash = await hashBcrypt(randomBytes(16).toString('hex'), cost);
    this.users = parsed.users;
    this.fileKey = `${st.ino}:${st.size}:${st.mtimeMs}`;
    this.cache.clear();
    this.opts.log.info({ path: this.opts.path, users: parsed.users.size }, 'htpasswd: loaded');
  }

  async reload(): Promise<void> {
    await this.load();
  }

  /** Re-reads the file when its identity, size or mtime changed; checked at most once per interval. */
  private async maybeReload(): Promise<void> {
    const now = Date.now();
    if (now - this.lastCheck < (this.opts.checkIntervalMs ?? 1000)) return;
    this.lastCheck = now;
    this.checking ??= (async () => {
      try {
        const st = await stat(this.opts.path);
        if (`${st.ino}:${st.size}:${st.mtimeMs}` !== this.fileKey) await this.load();
      } catch (err) {
        // A missing or unreadable file refuses everyone until it is back: fail closed.
        this.opts.log.error(
          { path: this.opts.path, err: (err as Error).message },
          'htpasswd: cannot read the file; refusing all logins until it is readable',
        );
        this.users = new Map();
        this.cache.clear();
        this.fileKey = '';
      } finally {
        this.checking = null;
      }
    })();
    await this.checking;
  }

  /** The cache key: a keyed hash of user and password (the secret random prefix makes it an HMAC substitute here). */
  private key(user: string, password: string): string {
    return hash('sha256', `${this.cacheKeyText}${user}\0${password}`, 'base64');
  }

  async authorize(req: IncomingMessage, access: Access[]): Promise<AuthResult> {
    const creds = basicCredentials(req);
    // podman and skopeo send empty Basic credentials when not logged in: that is "not logged in", not a guess.
    if (!creds || creds.user === '') return challenge(access, this.header);
    const r = await this.verify(creds.user, creds.password, clientAddress(req));
    if (r.ok) return { granted: true, user: creds.user };
    return r.retryAfter ? tooManyRequests(r.retryAfter) : challenge(access, this.header, 'invalid');
  }

  /** Whether the user is in the file, re-read first when it changed (a removed user's refresh tokens stop working). */
  async exists(user: string): Promise<boolean> {
    await this.maybeReload();
    return this.users.has(user);
  }

  /**
   * Checks a password: refused while this user from this address is throttled (even with credentials still in
   * the cache, and whether the password is right or not: an answer that differed would tell a guesser which guess
   * was right), from the cache when verified recently, else by bcrypt; failures count toward the throttle.
   * An empty user name is no login at all: refused, never counted.
   */
  async verify(
    user: string,
    password: string,
    address: string | undefined,
  ): Promise<{ ok: true } | { ok: false; retryAfter?: number }> {
    if (user === '') return { ok: false };
    // Hot path (a cached credential, no failures seen): no promise but the one this function returns.
    if (Date.now() - this.lastCheck >= (this.opts.checkIntervalMs ?? 1000)) await this.maybeReload();
    const blocked = this.opts.guard.retryAfter(user, address);
    const retry = typeof blocked === 'number' ? blocked : await blocked;
    if (retry > 0) return { ok: false, retryAfter: retry };

    const k = this.key(user, password);
    const hit = this.cache.get(k);
    const now = Date.now();
    if (hit && hit.expires > now && this.users.has(hit.user)) return { ok: true };

    const hash = this.users.get(user);
    const ok = (await verifyBcrypt(password, hash ?? this.dummyHash)) && hash !== undefined;
    if (!ok) {
      const { counted } = await this.opts.guard.recordFailure(user, password, address);
      this.opts.log.warn(
        { user, remote: address, ...(counted ? {} : { repeated: true }) },
        'htpasswd: authentication failed',
      );
      return { ok: false };
    }
    await this.opts.guard.recordSuccess(user, address);
    if (this.cache.size >= MAX_CACHE) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(k, { user, expires: now + (this.opts.cacheTtlMs ?? 60_000) });
    return { ok: true };
  }
}
