/**
 * Logging on pino. `log.formatter: json` writes JSON lines with logrus' field and level names (time, level, msg;
 * `warning`, not pino's `warn`), as Distribution does; `logstash` renames fields the way logstash expects
 * (@timestamp, @version); `text` writes logrus-style `time=".." level=info msg=".." key=value` lines.
 */
import pino, { type Logger } from 'pino';

export type Formatter = 'text' | 'json' | 'logstash';

const LEVEL_NAMES: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warning',
  50: 'error',
  60: 'fatal',
};

function quote(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /^[A-Za-z0-9_.:/@+-]+$/.test(s) ? s : JSON.stringify(s);
}

/** A line formatter from pino's JSON record to logrus text. */
export function textLine(json: string): string {
  const rec = JSON.parse(json) as Record<string, unknown>;
  const { time, level, msg, pid: _pid, hostname: _h, ...rest } = rec;
  const parts = [
    `time=${quote(new Date(time as number).toISOString())}`,
    `level=${LEVEL_NAMES[level as number] ?? level}`,
    `msg=${quote(msg ?? '')}`,
  ];
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) parts.push(`${k}=${quote(v)}`);
  return parts.join(' ') + '\n';
}

function logstashLine(json: string): string {
  const rec = JSON.parse(json) as Record<string, unknown>;
  const { time, level, msg, pid: _pid, hostname: _h, ...rest } = rec;
  return (
    JSON.stringify({
      '@timestamp': new Date(time as number).toISOString(),
      '@version': '1',
      level: LEVEL_NAMES[level as number] ?? level,
      message: msg,
      ...rest,
    }) + '\n'
  );
}

export function createLogger(opts: {
  level: string;
  formatter: Formatter;
  fields?: Record<string, unknown>;
  destination?: NodeJS.WritableStream;
}): Logger {
  const out = opts.destination ?? process.stderr;
  const { level } = opts;
  const base = { ...(opts.fields ?? {}) };
  if (opts.formatter === 'json')
    return pino(
      {
        level,
        base,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (l, n) => ({ level: LEVEL_NAMES[n] ?? l }) },
      },
      out,
    );
  const convert = opts.formatter === 'text' ? textLine : logstashLine;
  return pino({ level, base }, { write: (line: string) => out.write(convert(line)) });
}
