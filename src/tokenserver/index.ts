/** Builds the token server from `tokenserver:` (and `access:`, `bruteforce:`) in the config; imported only then. */
import type { Logger } from 'pino';
import type { BruteForceGuard } from '../auth/bruteforce.js';
import { AccessPolicy } from '../auth/policy.js';
import type { Config } from '../config/schema.js';
import type { TokenServer } from './server.js';

export async function createTokenServer(
  config: Readonly<Config>,
  log: Logger,
  guard: BruteForceGuard,
  policy?: AccessPolicy,
): Promise<{ server: TokenServer; path: string; reload(): Promise<void> } | null> {
  const ts = config.tokenserver;
  if (!ts || !ts.enabled) return null;
  const token = config.auth?.token;
  if (token && (token.issuer !== ts.issuer || token.service !== ts.service)) {
    log.warn(
      'tokenserver.issuer/service differ from auth.token.issuer/service: this registry will refuse the tokens its own token server issues',
    );
  }
  const [{ loadOrCreateSigningKey }, { TokenServer }, { HtpasswdAccess }] = await Promise.all([
    import('./keys.js'),
    import('./server.js'),
    import('../auth/htpasswd.js'),
  ]);
  const key = await loadOrCreateSigningKey(ts.key, ts.certificate, log);
  const users = new HtpasswdAccess({ realm: ts.service, path: ts.htpasswd, log, guard });
  await users.init();
  const server = new TokenServer({
    issuer: ts.issuer,
    service: ts.service,
    expirationMs: ts.expiration,
    refreshExpirationMs: ts.refreshexpiration,
    key,
    users,
    policy: config.access ? (policy ?? new AccessPolicy(config.access)) : undefined,
    log,
  });
  log.info({ path: ts.path, issuer: ts.issuer, service: ts.service, alg: key.alg }, 'tokenserver: ready');
  return { server, path: ts.path, reload: () => users.reload() };
}
