/**
 * Manifest GET load over one HTTP/2 connection (node:http2, `streams` requests in flight), for the HTTP/2 rows:
 * wrk speaks HTTP/1.1 only. Returns req/s and the server's CPU per request over the measured window.
 */
import { connect, constants } from 'node:http2';
import { OCI_MANIFEST } from './images.js';
import { cpuSeconds } from './pulls.js';

export async function h2Load(
  url: string,
  pid: number,
  ca: Buffer,
  streams: number,
  warmupMs: number,
  ms: number,
): Promise<{ rps: number; cpuUs: number }> {
  const session = connect(url, { ca });
  await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject));
  let done = 0;
  let stop = false;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = session.request({
        [constants.HTTP2_HEADER_PATH]: '/v2/bench/load/manifests/latest',
        accept: OCI_MANIFEST,
      });
      req.on('response', (h) => {
        if (h[':status'] !== 200) reject(new Error(`HTTP/2 manifest GET: ${h[':status']}`));
      });
      req.on('data', () => undefined);
      req.once('end', () => resolve());
      req.once('error', reject);
    });
  const worker = async () => {
    while (!stop) {
      await one();
      done++;
    }
  };
  const warm = Date.now() + warmupMs;
  // Handled at once (a failed stream stops its worker); the first failure is thrown once the window is over.
  const workers = Array.from({ length: streams }, () => worker().catch((err: Error) => err));
  while (Date.now() < warm) await new Promise((r) => setTimeout(r, 50));
  const [n0, c0, t0] = [done, cpuSeconds(pid) ?? NaN, performance.now()];
  await new Promise((r) => setTimeout(r, ms));
  const [n1, c1, t1] = [done, cpuSeconds(pid) ?? NaN, performance.now()];
  stop = true;
  const failed = (await Promise.all(workers)).find((e) => e instanceof Error);
  session.close();
  if (failed) throw failed;
  return { rps: ((n1 - n0) / (t1 - t0)) * 1000, cpuUs: ((c1 - c0) / (n1 - n0)) * 1e6 };
}
