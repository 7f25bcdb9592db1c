/**
 * Fixed-duration keep-alive load, run in a worker thread so the bench's main thread stays idle and the
 * client has a core of its own. `runLoad` starts the worker; the worker body is at the bottom of this file.
 */
import { Agent, request } from 'node:http';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

export interface LoadSpec {
  url: string;
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  connections: number;
  warmupMs: number;
  durationMs: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  firstError?: string;
}

export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: spec });
    const kill = setTimeout(() => {
      void w.terminate();
      reject(new Error('load generator did not finish in time'));
    }, spec.warmupMs + spec.durationMs + 30_000);
    w.once('message', (r: LoadResult) => {
      clearTimeout(kill);
      resolve(r);
      void w.terminate();
    });
    w.once('error', (err) => {
      clearTimeout(kill);
      reject(err);
    });
  });
}

async function worker(spec: LoadSpec): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections });
  const t0 = Date.now();
  const measureFrom = t0 + spec.warmupMs;
  const stopAt = measureFrom + spec.durationMs;
  let requests = 0;
  let errors = 0;
  let firstError: string | undefined;
  const one = () =>
    new Promise<boolean>((resolve) => {
      const req = request(spec.url, { method: spec.method, headers: spec.headers, agent, timeout: 10_000 });
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
  worker(workerData as LoadSpec).then((r) => port.postMessage(r));
}
