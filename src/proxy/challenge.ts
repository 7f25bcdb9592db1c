/** `WWW-Authenticate` parsing (RFC 7235 auth-params), for the client side of Basic and Bearer. */

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

const TOKEN = /([A-Za-z][\w.-]*)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+))?/g;

/** The Basic and Bearer challenges of a header (other schemes are skipped); parameter names lower-cased. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  const out: Challenge[] = [];
  for (const v of values) {
    let current: Challenge | null = null;
    for (const m of v.matchAll(TOKEN)) {
      if (m[2] === undefined) {
        // A bare token starts a new challenge (its scheme).
        const s = m[1].toLowerCase();
        current = s === 'basic' || s === 'bearer' ? { scheme: s, params: {} } : null;
        if (current) out.push(current);
      } else if (current) {
        current.params[m[1].toLowerCase()] = m[2].startsWith('"') ? m[2].slice(1, -1).replace(/\\(.)/g, '$1') : m[2];
      }
    }
  }
  return out;
}
