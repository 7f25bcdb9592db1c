/** How the bench samples and summarizes a phase. */

/**
 * Measures every entry of every group in turn, `rounds` times: within a round the groups one after the other,
 * each group's entries in an order that flips every round (so no server always goes first). Returns each entry's
 * samples, in round order.
 */
export async function inTurns<T>(
  rounds: number,
  groups: T[][],
  measure: (entry: T, round: number) => Promise<number>,
): Promise<Map<T, number[]>> {
  const samples = new Map<T, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const group of groups) {
      for (const entry of round % 2 === 0 ? group : [...group].reverse()) {
        const value = await measure(entry, round);
        samples.set(entry, [...(samples.get(entry) ?? []), value]);
      }
    }
  }
  return samples;
}

/** The median of a non-empty list (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
