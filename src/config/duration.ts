/** Go's time.ParseDuration grammar ("1h30m", "500ms", "168h"), as Distribution's YAML durations use it. */
const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds for a Go duration string, or for an integer (Go reads bare integers as nanoseconds). */
export function parseDuration(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v / 1e6;
  if (typeof v !== 'string') return null;
  let s = v.trim();
  const sign = s.startsWith('-') ? -1 : 1;
  if (s.startsWith('-') || s.startsWith('+')) s = s.slice(1);
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let i = 0;
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m) return null;
    total += parseFloat(m[1]) * UNITS[m[2]];
    i = re.lastIndex;
  }
  return i > 0 ? sign * total : null;
}
