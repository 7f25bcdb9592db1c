/**
 * Limits on JSON a client sends, checked on the raw bytes before anything parses or walks it: JSON.parse
 * itself copes with deep nesting, but what walks the result afterwards (schema validation, JSON.stringify of a
 * notification, garbage collection) recurses once per level.
 */

/** Deepest nesting of arrays and objects accepted in a manifest (OCI manifests need 4 or 5). */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** Whether `bytes` nests arrays and objects deeper than `limit`; brackets inside strings do not count. */
export function nestsDeeperThan(bytes: Uint8Array, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--;
    }
  }
  return false;
}
