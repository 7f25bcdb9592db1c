/**
 * The files a configuration names, checked the way `wharf serve` will use them, so that a problem is reported
 * with its key and path (`auth.htpasswd.path: /etc/docker/registry is a directory, not an htpasswd file`) rather
 * than as a bare EISDIR.
 */
import { statSync } from 'node:fs';
import type { Config } from './schema.js';

/** "permission denied" for an EACCES error; the message without Node's code and syscall prefix. */
export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EISDIR') return 'it is a directory, not a file';
  const m = /^E[A-Z]+: ([^,]+)/.exec(e?.message ?? '');
  return m ? m[1] : String(e?.message ?? err);
}

export type FileState = 'file' | 'missing' | { problem: string };

/** Whether `path` is a regular file; `what` names what it should be ("an htpasswd file"). */
export function fileState(key: string, path: string, what: string): FileState {
  try {
    const st = statSync(path);
    if (st.isDirectory()) return { problem: `${key}: ${path} is a directory, not ${what}` };
    if (!st.isFile()) return { problem: `${key}: ${path} is not a regular file (${what} expected)` };
    return 'file';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    return { problem: `${key}: cannot read ${path}: ${describeFsError(err)}` };
  }
}

/** Problems (refusing the start) and warnings about the auth files; TLS files are checked by http/tls.ts. */
export function authFileProblems(config: Readonly<Config>): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const check = (key: string, path: string | undefined, what: string, ifMissing: string | null) => {
    if (!path) return;
    const s = fileState(key, path, what);
    if (typeof s === 'object') problems.push(s.problem);
    else if (s === 'missing')
      (ifMissing ? warnings : problems).push(
        ifMissing ? `${key}: ${path} does not exist; ${ifMissing}` : `${key}: ${path} does not exist`,
      );
  };
  const a = config.auth;
  check(
    'auth.htpasswd.path',
    a?.htpasswd?.path,
    'an htpasswd file',
    'wharf serve creates it with a user "docker" and a random password it logs once',
  );
  const ts = config.tokenserver;
  const tokenServerMakes = ts && ts.enabled ? ts.certificate : undefined;
  check(
    'auth.token.rootcertbundle',
    a?.token?.rootcertbundle,
    'a PEM certificate bundle',
    a?.token?.rootcertbundle === tokenServerMakes ? 'the token server creates it' : null,
  );
  check('auth.token.jwks', a?.token?.jwks, 'a JWKS (JSON) file', null);
  if (ts?.enabled) {
    check(
      'tokenserver.htpasswd',
      ts.htpasswd,
      'an htpasswd file',
      'the token server creates it with a user "docker" and a random password it logs once',
    );
    check('tokenserver.key', ts.key, 'a PEM private key', 'the token server creates it');
    check('tokenserver.certificate', ts.certificate, 'a PEM certificate', 'the token server creates it');
  }
  return { problems, warnings };
}
