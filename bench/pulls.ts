/**
 * Blob GET throughput, measured the ways a pull happens: `curl -o /dev/null` (C, no work per byte), the bench's
 * own node:http client that only counts bytes ("raw"), with a Range, and the client that hashes what it reads
 * (blobs.ts `pull`). Plus the server's CPU time over a phase, from /proc/<pid>/stat.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import { sendRaw } from './http.js';

/** CPU seconds (user + system) a process has used so far; null when unreadable. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
  } catch {
    return null;
  }
}

/** Runs `fn` and returns its result with the CPU seconds `pid` spent meanwhile. */
export async function withCpu<T>(pid: number, fn: () => Promise<T>): Promise<{ value: T; cpu: number | null }> {
  const before = cpuSeconds(pid);
  const value = await fn();
  const after = cpuSeconds(pid);
  return { value, cpu: before === null || after === null ? null : after - before };
}

/** Resident memory of a process in bytes (VmRSS), null when unreadable. */
export function rssOf(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** GETs `url` and counts the body bytes without looking at them; returns MB/s. Throws on a wrong status or size. */
export async function rawGet(agent: Agent, url: string, want: number, range?: string): Promise<number> {
  const t0 = performance.now();
  await sendRaw(agent, 'GET', url, range ? { Range: range } : {}, undefined, 600_000, async (res) => {
    const expected = range ? 206 : 200;
    if (res.statusCode !== expected) {
      res.resume();
      throw new Error(`GET ${range ?? 'blob'}: HTTP ${res.statusCode}, expected ${expected}`);
    }
    let n = 0;
    for await (const chunk of res) n += (chunk as Buffer).length;
    if (n !== want) throw new Error(`GET ${range ?? 'blob'}: ${n} bytes, expected ${want}`);
  });
  return want / 1e6 / ((performance.now() - t0) / 1000);
}

/**
 * The bench client's GET (rawGet) in a fresh process, after one untimed GET (see rawclient.ts); returns MB/s.
 * `cacert`: the PEM file of the CA that signed an HTTPS server's certificate.
 */
export function rawGetProcess(
  url: string,
  want: number,
  opts: { range?: string; cacert?: string } = {},
): Promise<number> {
  const script = fileURLToPath(new URL('./rawclient.js', import.meta.url));
  const args = [script, url, String(want), opts.range ?? '', opts.cacert ?? ''];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: 600_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`bench client failed: ${stderr.trim() || err.message}`));
      resolve(Number(stdout.trim()));
    });
  });
}

/** `curl -o /dev/null` of `url` (HTTP/1.1, as the registry clients use); returns MB/s. Throws on a wrong status or size. */
export function curlGet(
  url: string,
  want: number,
  opts: { range?: string; cacert?: string; http2?: boolean } = {},
): Promise<number> {
  const args = [
    '-sS',
    opts.http2 ? '--http2' : '--http1.1',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %{size_download} %{time_total}',
  ];
  if (opts.range) args.push('-r', opts.range.replace(/^bytes=/, ''));
  if (opts.cacert) args.push('--cacert', opts.cacert);
  args.push(url);
  return new Promise((resolve, reject) => {
    execFile('curl', args, { timeout: 600_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl failed: ${err.message} ${stderr}`));
      const [code, size, seconds] = stdout.trim().split(' ').map(Number);
      const expected = opts.range ? 206 : 200;
      if (code !== expected || size !== want)
        return reject(new Error(`curl ${url}: HTTP ${code}, ${size} bytes; expected ${expected}, ${want}`));
      resolve(want / 1e6 / seconds);
    });
  });
}

/** A Range of about half the blob starting at an odd offset (so that no slice boundary lines up): [start, end). */
export function halfRange(size: number): { header: string; bytes: number } {
  const start = Math.floor(size / 4) + 12_345;
  const end = start + Math.floor(size / 2);
  return { header: `bytes=${start}-${end - 1}`, bytes: end - start };
}
