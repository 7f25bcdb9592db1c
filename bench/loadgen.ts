/**
 * Fixed-duration keep-alive load, by Debian's `wrk` (C, cheap per request: on a 2-core machine shared with the
 * server under test, a cheaper client leaves more CPU to the server) or by node:http in a worker thread
 * (`runNodeLoad`; its body is at the bottom of this file).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { cpuSeconds } from './pulls.js';

export interface LoadSpec {
  url: string;
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** The server's pid: its CPU time during the measured window is reported as cpuSeconds. */
  cpuPid?: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  firstError?: string;
  /** CPU seconds the server (spec.cpuPid) used during the measured window. */
  cpuSeconds?: number;
}

/** CPU seconds of `pid` between start() and stop(); undefined without a pid or /proc. */
function cpuWindow(pid: number | undefined): { start(): void; stop(): number | undefined } {
  let from: number | null = null;
  let total: number | undefined;
  return {
    start: () => void (from = pid === undefined ? null : cpuSeconds(pid)),
    stop: () => {
      const to = pid === undefined ? null : cpuSeconds(pid);
      total = from === null || to === null ? undefined : to - from;
      return total;
    },
  };
}

export const WRK = '/usr/bin/wrk';

function wrkOnce(spec: LoadSpec, script: string, ms: number): Promise<string> {
  const args = [
    '-t1',
    `-c${spec.connections}`,
    `-d${Math.max(1, Math.round(ms / 1000))}s`,
    '--timeout',
    '10s',
    '-s',
    script,
    spec.url,
  ];
  return new Promise((resolve, reject) => {
    execFile(WRK, args, { timeout: ms + 30_000, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`wrk failed: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

/** Runs wrk once for the warm-up and once for the measurement (whole seconds), with one thread. */
export async function runWrkLoad(spec: LoadSpec): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-wrk-'));
  try {
    const script = join(dir, 'req.lua');
    const headers = Object.entries(spec.headers)
      .map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}\n`)
      .join('');
    writeFileSync(script, `wrk.method = ${JSON.stringify(spec.method)}\n${headers}`);
    if (spec.warmupMs > 0) await wrkOnce(spec, script, spec.warmupMs);
    const cpu = cpuWindow(spec.cpuPid);
    cpu.start();
    const out = await wrkOnce(spec, script, spec.durationMs);
    const cpuSeconds = cpu.stop();
    const total = /(\d+) requests in ([\d.]+)(m?s)/.exec(out);
    if (!total) throw new Error(`cannot parse wrk output:\n${out}`);
    const seconds = Number(total[2]) / (total[3] === 'ms' ? 1000 : 1);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const sockErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
    const requests = Number(total[1]) - non2xx;
    const errors = non2xx + sockErrors;
    return {
      requests,
      errors,
      seconds,
      rps: requests / seconds,
      firstError: errors > 0 ? out.trim() : undefined,
      cpuSeconds,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function runNodeLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: spec });
    // The worker measures from warmupMs after its start; the server's CPU is sampled over the same window.
    const cpu = cpuWindow(spec.cpuPid);
    const warm = setTimeout(() => cpu.start(), spec.warmupMs);
    const kill = setTimeout(
      () => {
        void w.terminate();
        reject(new Error('load generator did not finish in time'));
      },
      spec.warmupMs + spec.durationMs + 30_000,
    );
    w.once('message', (r: LoadResult) => {
      clearTimeout(kill);
      clearTimeout(warm);
      resolve({ ...r, cpuSeconds: cpu.stop() });
      void w.terminate();
    });
    w.once('error', (err) => {
      clearTimeout(kill);
      reject(err);
    });
  });
}

async function worker(spec: LoadSpec): Promise<LoadResult> {
  const tls = spec.url.startsWith('https:');
  // The bench's own self-signed certificate: verification is not what is measured.
  const agent = tls
    ? new HttpsAgent({ keepAlive: true, maxSockets: spec.connections, rejectUnauthorized: false })
    : new Agent({ keepAlive: true, maxSockets: spec.connections });
  const send = tls ? httpsRequest : request;
  const t0 = Date.now();
  const measureFrom = t0 + spec.warmupMs;
  const stopAt = measureFrom + spec.durationMs;
  let requests = 0;
  let errors = 0;
  let firstError: string | undefined;
  const one = () =>
    new Promise<boolean>((resolve) => {
      const req = send(spec.url, { method: spec.method, headers: spec.headers, agent, timeout: 10_000 });
      req.once('timeout', () => req.destroy(new Error('timeout')));
      req.once('error', (err) => {
        firstError ??= err.message;
        resolve(false);
      });
      req.once('response', (res) => {
        res.resume();
        res.once('end', () => {
          const ok = res.statusCode === 200;
          if (!ok) firstError ??= `HTTP ${res.statusCode}`;
          resolve(ok);
        });
      });
      req.end();
    });
  const loop = async () => {
    while (Date.now() < stopAt) {
      const ok = await one();
      const now = Date.now();
      if (now >= measureFrom && now < stopAt) {
        if (ok) requests++;
        else errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: spec.connections }, loop));
  agent.destroy();
  const seconds = spec.durationMs / 1000;
  return { requests, errors, seconds, rps: requests / seconds, firstError };
}

if (!isMainThread && parentPort && (workerData as LoadSpec | undefined)?.url) {
  const port = parentPort;
  // A rejection is unhandled on purpose: it ends the worker, and the parent sees it as the worker's 'error'.
  void worker(workerData as LoadSpec).then((r) => port.postMessage(r));
}
