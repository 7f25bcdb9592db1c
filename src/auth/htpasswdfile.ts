/**
 * The Apache htpasswd file format, as Distribution reads it: one `user:hash` per line, lines trimmed, blank and
 * `#` lines skipped, split at the first ':'. Only bcrypt hashes ($2a$, $2b$, $2y$) are accepted; every other
 * format is refused with a reason, never accepted silently.
 */
import bcrypt from 'bcryptjs';

export interface HtpasswdProblem {
  line: number;
  user?: string;
  message: string;
}

export interface ParsedHtpasswd {
  users: Map<string, string>;
  problems: HtpasswdProblem[];
}

const BCRYPT_RE = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** Why a hash is refused, or null when it is a bcrypt hash. */
export function refusedHashReason(hash: string): string | null {
  if (BCRYPT_RE.test(hash)) return null;
  if (hash.startsWith('$apr1$')) return 'uses an MD5 ($apr1$) hash';
  if (hash.startsWith('{SHA}')) return 'uses a SHA-1 ({SHA}) hash';
  if (/^\$[156]\$/.test(hash)) return 'uses a crypt(3) MD5/SHA hash';
  if (hash.startsWith('$2')) return 'has a malformed bcrypt hash';
  if (/^[./A-Za-z0-9]{13}$/.test(hash)) return 'uses a DES crypt hash';
  return 'has a plain-text or unknown password hash';
}

export function parseHtpasswd(text: string): ParsedHtpasswd {
  const users = new Map<string, string>();
  const problems: HtpasswdProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (t === '' || t.startsWith('#')) return;
    const colon = t.indexOf(':');
    if (colon <= 0 || colon === t.length - 1) {
      problems.push({ line, message: 'malformed entry (expected user:hash)' });
      return;
    }
    const user = t.slice(0, colon);
    const hash = t.slice(colon + 1);
    const reason = refusedHashReason(hash);
    if (reason) {
      problems.push({
        line,
        user,
        message: `${reason}; only bcrypt is accepted (create it with \`wharf htpasswd -B\` or \`htpasswd -B\`)`,
      });
      return;
    }
    if (users.has(user)) problems.push({ line, user, message: 'duplicate user; the later entry wins' });
    users.set(user, hash);
  });
  return { users, problems };
}

/** bcrypt cost of a hash. */
export function bcryptCost(hash: string): number {
  return Number(hash.slice(4, 6));
}

export async function verifyBcrypt(password: string, hash: string): Promise<boolean> {
  return bcrypt.compare(password, hash);
}

/** A bcrypt hash in the `$2y$` form `htpasswd -B` writes. */
export async function hashBcrypt(password: string, cost: number): Promise<string> {
  const h = await bcrypt.hash(password, cost);
  return `$2y$${h.slice(4)}`;
}

/** The user a line belongs to, read as parseHtpasswd reads it; null for blank, comment and malformed lines. */
export function htpasswdLineUser(raw: string): string | null {
  const t = raw.trim();
  if (t === '' || t.startsWith('#')) return null;
  const colon = t.indexOf(':');
  return colon > 0 ? t.slice(0, colon) : null;
}

/**
 * Sets (`hash`) or removes (`null`) a user's entry in htpasswd text; every other line keeps its text, order and
 * line ending. The user's first entry is replaced in place and later duplicates are dropped (the server would
 * let the last one win); a new user is appended. The result ends with a newline.
 */
export function editHtpasswd(text: string, user: string, hash: string | null): { text: string; found: boolean } {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const eol = lines[0]?.endsWith('\r') ? '\r\n' : '\n';
  const out: string[] = [];
  let found = false;
  for (const line of lines) {
    if (htpasswdLineUser(line) !== user) {
      out.push(line);
      continue;
    }
    if (!found && hash !== null) out.push(`${user}:${hash}${line.endsWith('\r') ? '\r' : ''}`);
    found = true;
  }
  if (!found && hash !== null) out.push(`${user}:${hash}${eol === '\r\n' ? '\r' : ''}`);
  return { text: out.length === 0 ? '' : `${out.join('\n')}\n`, found };
}
