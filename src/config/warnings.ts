/**
 * Settings that are valid but make clients fail or leave the registry open without saying so: warned at start
 * and by `wharf config check`, never refused (Distribution accepts them).
 */
import { noEffectWarnings } from './noeffect.js';
import type { Config } from './schema.js';

function isAbsoluteHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host !== '';
  } catch {
    return false;
  }
}

/** Docker, podman and skopeo fetch a token from the realm of a Bearer challenge: a realm that is not a URL fails there. */
function realmWarning(key: string, realm: string): string {
  return `${key}: ${JSON.stringify(realm)} is not an absolute http(s) URL; docker, podman and skopeo will fail with "unsupported protocol scheme" when they fetch a token (write e.g. https://registry.example.com/auth/token)`;
}

export function configWarnings(config: Readonly<Config>, tree: Record<string, unknown>): string[] {
  const out: string[] = [];
  const auth = config.auth;
  if ('auth' in tree && (!auth || Object.keys(auth).length === 0)) {
    out.push(
      'auth: empty: no authentication, anyone can pull, push and delete (configure htpasswd, token or silly, or remove the key)',
    );
  }
  if (auth?.silly && !isAbsoluteHttpUrl(auth.silly.realm)) out.push(realmWarning('auth.silly.realm', auth.silly.realm));
  if (auth?.token && !auth.token.autoredirect && !isAbsoluteHttpUrl(auth.token.realm))
    out.push(realmWarning('auth.token.realm', auth.token.realm));
  out.push(...noEffectWarnings(config, tree));
  return out;
}
