/** The rows `npm run bench` prints (one per figure, both servers and their ratio) and how each target is judged. */

export type Metric =
  | 'idleRss'
  | 'push'
  | 'chunkedPush'
  | 'pullCurl'
  | 'pullCurlRange'
  | 'pullRaw'
  | 'pullRawRange'
  | 'pull'
  | 'cpuPerGiB'
  | 'skopeoCopy'
  | 'peakRss'
  | 'manifestGet'
  | 'manifestCpu'
  | 'blobHead'
  | 'tagsList'
  | 'smallPushes'
  | 'catalogWalk'
  | 'catalogPage'
  | 'basic5'
  | 'basic10'
  | 'basic10VsPlain'
  | 'tlsPush'
  | 'tlsPullCurl'
  | 'tlsPullRaw'
  | 'tlsPull'
  | 'tlsManifestGet'
  | 'h2PullCurl'
  | 'h2ManifestGet';
export type Measured = Partial<Record<Metric, number>>;

type Target = { ratioAtLeast: number } | { ratioAtMost: number } | { wharfAtMost: number } | { wharfAtLeast: number };

export interface Row {
  metric: Metric;
  label: string;
  unit: string;
  target: Target;
}

export interface Line {
  metric: Metric;
  label: string;
  unit: string;
  wharf: number | null;
  dockerRegistry: number | null;
  ratio: number | null;
  target: string;
  met: boolean | null;
}

function judge(
  t: Target,
  wv: number | undefined,
  ratio: number | null,
  unit: string,
): { target: string; met: boolean | null } {
  if ('wharfAtLeast' in t)
    return { target: `wharf >= ${t.wharfAtLeast}`, met: wv === undefined ? null : wv >= t.wharfAtLeast };
  if ('wharfAtMost' in t)
    return { target: `wharf <= ${t.wharfAtMost} ${unit}`, met: wv === undefined ? null : wv <= t.wharfAtMost };
  if ('ratioAtLeast' in t)
    return { target: `>= ${t.ratioAtLeast}x`, met: ratio === null ? null : ratio >= t.ratioAtLeast };
  return { target: `<= ${t.ratioAtMost}x`, met: ratio === null ? null : ratio <= t.ratioAtMost };
}

export function lines(rows: Row[], w: Measured, d: Measured): Line[] {
  return rows.map((r) => {
    const wv = w[r.metric];
    const dv = d[r.metric];
    const ratio = wv !== undefined && dv !== undefined && dv > 0 ? wv / dv : null;
    return {
      metric: r.metric,
      label: r.label,
      unit: r.unit,
      wharf: wv ?? null,
      dockerRegistry: dv ?? null,
      ratio,
      ...judge(r.target, wv, ratio, r.unit),
    };
  });
}

function fmt(v: number | null, unit: string): string {
  if (v === null) return '-';
  if (unit === 'req/s' || unit === 'MB/s') return Math.round(v).toLocaleString('en-US');
  return unit === 'x' || unit === 's' ? v.toFixed(2) : v.toFixed(1);
}

const ratioText = (l: Line) =>
  l.ratio === null ? '-' : `${l.ratio >= 100 ? l.ratio.toFixed(0) : l.ratio.toFixed(2)}x`;
const metText = (l: Line) => (l.met === null ? '-' : l.met ? 'yes' : 'NO');

/** A fixed-width text table for the terminal. */
export function table(rows: Line[]): string {
  const head = ['metric', 'unit', 'wharf', 'docker-registry', 'wharf/d-r', 'target', 'met'];
  const body = rows.map((l) => [
    l.label,
    l.unit,
    fmt(l.wharf, l.unit),
    fmt(l.dockerRegistry, l.unit),
    ratioText(l),
    l.target,
    metText(l),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const row = (cells: string[]) =>
    cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [row(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(row)].join('\n');
}

/** The same rows as a Markdown table (for docs/performance.md). */
export function markdown(rows: Line[]): string {
  const out = [
    '| figure | unit | wharf | docker-registry | wharf / d-r | target | met |',
    '| --- | --- | ---: | ---: | ---: | --- | --- |',
  ];
  for (const l of rows)
    out.push(
      `| ${l.label} | ${l.unit} | ${fmt(l.wharf, l.unit)} | ${fmt(l.dockerRegistry, l.unit)} | ${ratioText(l)} | ${l.target.replace(/([<>])/g, '$1')} | ${metText(l)} |`,
    );
  return out.join('\n');
}
