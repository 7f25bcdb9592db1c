/**
 * The auth method registry: `auth:` in config.yml -> one AccessController. A new method is one file plus one line.
 * Methods are imported when configured (token auth brings jose and @peculiar/x509, about 15 MiB).
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Metrics } from '../metrics.js';
import { BruteForceGuard, type ThrottleReason, type ThrottleStore } from './bruteforce.js';
import { throttlePolicyOf } from './bruteforcepolicy.js';
import { openAccess, type AccessController } from './controller.js';
import { AccessPolicy, withPolicy } from './policy.js';
import { sillyAccess } from './silly.js';

export const DEFAULT_SILLY_SERVICE = 'wharf';

type AuthConfig = NonNullable<Config['auth']>;

export interface AuthDeps {
  log: Logger;
  guard: BruteForceGuard;
  /** The access rules, when shared with the token server (so one SIGHUP replaces them for both). */
  policy?: AccessPolicy;
}

const METHODS: {
  [K in keyof AuthConfig]-?: (params: NonNullable<AuthConfig[K]>, deps: AuthDeps) => Promise<AccessController>;
} = {
  none: async () => openAccess,
  silly: async (p, { log }) => {
    if (!p.service)
      log.warn(`auth.silly.service is not set: using "${DEFAULT_SILLY_SERVICE}" (Distribution requires it)`);
    log.warn('auth.silly lets in any request with an Authorization header: use it for testing only');
    return sillyAccess({ realm: p.realm, service: p.service ?? DEFAULT_SILLY_SERVICE });
  },
  htpasswd: async (p, { log, guard }) => {
    const { HtpasswdAccess } = await import('./htpasswd.js');
    const h = new HtpasswdAccess({ realm: p.realm, path: p.path, key: 'auth.htpasswd.path', log, guard });
    await h.init();
    return h;
  },
  token: async (p, { log }) => (await import('./token.js')).TokenAccess.create({ ...p, log }),
};

const STARTED: Record<ThrottleReason, string> = {
  address:
    'login throttling: this address reached its limit of failed logins (any user names); its password checks get 429 with a growing Retry-After',
  pair: 'login throttling: this user name reached its limit of failed logins from this address; its password checks from there get 429 with a growing Retry-After',
  user: 'login throttling: this user name reached its user-wide limit of failed logins (all addresses); this address, and each one that fails for it, is slowed from its first failure',
};

/**
 * The login throttle; `store` shares the counts between replicas (default: this process only). The failed-password
 * hashes are keyed by a secret derived from http.secret, so that replicas recognise each other's (random without it).
 * Each throttle start is logged once (user name and address, never a password) and counted; so is each refusal.
 */
export function bruteForceGuard(
  config: Readonly<Config>,
  store?: ThrottleStore,
  deps: { log?: Logger; metrics?: Metrics } = {},
): BruteForceGuard {
  const secret = config.http.secret
    ? createHmac('sha256', config.http.secret).update('wharf login throttle').digest()
    : undefined;
  const { log, metrics } = deps;
  return new BruteForceGuard(throttlePolicyOf(config.bruteforce), {
    store,
    secret,
    hooks: {
      throttled: (reason) => metrics?.authThrottled.inc({ reason }),
      started: ({ reason, user, address }) => {
        metrics?.authThrottleStarts.inc({ reason });
        log?.warn({ user, remote: address, limit: reason }, STARTED[reason]);
      },
    },
  });
}

export async function createAccessController(config: Readonly<Config>, deps: AuthDeps): Promise<AccessController> {
  const auth = config.auth;
  if (!auth) return openAccess;
  const name = (Object.keys(auth) as Array<keyof AuthConfig>).find((k) => auth[k] !== undefined);
  if (!name) return openAccess;
  const factory = METHODS[name] as (p: unknown, d: AuthDeps) => Promise<AccessController>;
  return factory(auth[name] ?? {}, deps);
}

/** The configured auth method, behind the access rules when `access:` is configured. */
export async function createAuth(config: Readonly<Config>, deps: AuthDeps): Promise<AccessController> {
  const method = await createAccessController(config, deps);
  if (!config.access) return method;
  if (method.name === 'none') deps.log.warn('access rules are configured without auth: every caller is anonymous');
  return withPolicy(method, deps.policy ?? new AccessPolicy(config.access));
}
