/**
 * "Did you mean …?" for config keys: the known key nearest to a mistyped one. Case, `_` and `-` do not count
 * (`Htpasswd`, `root_directory`); otherwise an edit distance (with transpositions: `tsl` -> `tls`) small for the
 * key's length, so that unrelated keys are not suggested; an abbreviation suggests the key it starts.
 */

function normalise(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The largest distance still taken for a typo of a key this long. */
function tolerance(length: number): number {
  if (length <= 4) return 1;
  if (length <= 8) return 2;
  return 3;
}

/** The known key `key` is most likely a typo of, or undefined when none is close enough. */
export function nearestKey(key: string, known: Iterable<string>): string | undefined {
  const k = normalise(key);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    if (candidate === key) continue;
    const c = normalise(candidate);
    // An abbreviation (`repos`, `cert`) counts as a typo of the key it starts.
    const d = k.length >= 3 && c.startsWith(k) ? tolerance(c.length) : editDistance(k, c);
    if (d <= tolerance(Math.max(k.length, c.length)) && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}
