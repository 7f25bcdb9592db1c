/** The auth seam: a method answers "granted" (with the user) or a challenge; access itself is decided in access.ts. */
import type { IncomingMessage } from 'node:http';
import type { Access } from './access.js';
import type { AccessPolicy } from './policy.js';

/** Why a request was refused: no credentials, wrong ones, a valid token lacking scope, a brute-force block, or the access rules. */
export type RefusalReason = 'missing' | 'invalid' | 'scope' | 'blocked' | 'denied';

export type AuthResult =
  | { granted: true; user?: string }
  | {
      granted: false;
      code: 'UNAUTHORIZED' | 'DENIED' | 'TOOMANYREQUESTS';
      headers: Record<string, string>;
      message?: string;
      detail: unknown;
      reason: RefusalReason;
      user?: string;
    };

export interface AccessController {
  readonly name: string;
  /** Whether every caller it grants may pull every repository (decides automatic cross-repository mounts). */
  readonly readsAll: boolean;
  /** The access rules in force, when `access:` is configured. */
  readonly policy?: AccessPolicy;
  authorize(req: IncomingMessage, access: Access[]): Promise<AuthResult>;
  /** Re-reads files the method depends on (htpasswd, keys); called on SIGHUP. */
  reload?(): Promise<void>;
  close?(): void;
}

/** No `auth` section (or `auth: none`): everything is granted. */
export const openAccess: AccessController = {
  name: 'none',
  readsAll: true,
  authorize: async () => ({ granted: true }),
};

/**
 * Distribution's `detail` for an auth error: the requested accesses with Go's field names, or null when none
 * (the base endpoint).
 */
export function accessDetail(access: Access[]): unknown {
  if (access.length === 0) return null;
  return access.map((a) => ({ Type: a.type, Class: a.class, Name: a.name, Action: a.action }));
}

export function challenge(
  access: Access[],
  wwwAuthenticate: string,
  reason: RefusalReason = 'missing',
  user?: string,
): AuthResult {
  return {
    granted: false,
    code: 'UNAUTHORIZED',
    headers: { 'WWW-Authenticate': wwwAuthenticate },
    detail: accessDetail(access),
    reason,
    user,
  };
}

/** 403 DENIED: authenticated, but the access rules do not allow this. */
export function denied(access: Access[], user?: string): AuthResult {
  return { granted: false, code: 'DENIED', headers: {}, detail: accessDetail(access), reason: 'denied', user };
}

export function tooManyRequests(retryAfterSeconds: number): AuthResult {
  return {
    granted: false,
    code: 'TOOMANYREQUESTS',
    headers: { 'Retry-After': String(retryAfterSeconds) },
    reason: 'blocked',
    message: `too many failed login attempts; retry after ${retryAfterSeconds} seconds`,
    detail: { retryAfter: retryAfterSeconds },
  };
}

/** The client's address: the TCP peer, or what a trusted proxy says (src/auth/clientaddress.ts). */
export { clientAddress } from './clientaddress.js';

/** `Authorization: Basic` credentials, or null when absent or not Basic. Passwords may contain ':'. */
export function basicCredentials(req: IncomingMessage): { user: string; password: string } | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const sp = h.indexOf(' ');
  if (sp < 0 || h.slice(0, sp).toLowerCase() !== 'basic') return null;
  const decoded = Buffer.from(h.slice(sp + 1).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
