/**
 * The pull-through cache with two replicas sharing one filesystem data directory and Redis, in front of a slow
 * upstream: a client of the second replica is streamed the blob from the first replica's download as it arrives
 * (one upstream fetch, bytes long before the first replica's download ends), and when the first replica dies
 * mid-download, the second replica's client gets an error, never a complete-looking wrong blob, and a retry
 * through it fetches the blob afresh.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startWharf, type Wharf } from './harness.js';
import { countingProxy, pushImage, type CountingProxy } from './mirror-helpers.js';
import { REDIS_MISSING, REDIS_SERVER, startRedis, type RedisServer } from './redisserver.js';

const MiB = 1024 * 1024;

/** GETs `url`; resolves with when the first body byte came, when the body ended, its sha256 and whether it was cut. */
function timedGet(url: string): Promise<{ first: number; end: number; digest: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`GET ${url}: ${res.statusCode}`));
      }
      const hash = createHash('sha256');
      let first = 0;
      let n = 0;
      res.on('data', (c: Buffer) => {
        if (!first) first = Date.now();
        hash.update(c);
        n += c.length;
      });
      let settled = false;
      const done = (complete: boolean) => {
        if (settled) return;
        settled = true;
        resolve({ first, end: Date.now(), digest: `sha256:${hash.digest('hex')}`, complete: complete && n > 0 });
      };
      res.once('end', () => done(Number(res.headers['content-length']) === n));
      res.once('aborted', () => done(false));
      res.once('error', () => done(false));
    }).once('error', reject);
  });
}

describe(
  'pull-through cache: two replicas on one filesystem follow one download',
  { skip: REDIS_SERVER ? undefined : REDIS_MISSING },
  () => {
    let work: string;
    let redis: RedisServer;
    let up: Wharf;
    let counter: CountingProxy;
    const replicas: Wharf[] = [];
    let config: string;

    before(async () => {
      work = mkdtempSync(join(tmpdir(), 'wharf-e2e-mirror-replicas-'));
      up = await startWharf();
      counter = await countingProxy(up.url);
      redis = await startRedis();
      config = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(work, 'shared')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{{port}}
  secret: e2e-test-secret
redis:
  addrs: [${redis.addr}]
proxy:
  remoteurl: ${counter.url}
`;
      for (let i = 0; i < 2; i++) replicas.push(await startWharf({ config }));
    });

    after(async () => {
      for (const r of replicas) await r.cleanup();
      await counter?.close();
      await up?.cleanup();
      await redis?.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    test('a client of the other replica is streamed the blob as it arrives: one upstream fetch', async () => {
      const img = await pushImage(up.url, 'team/follow', 'v1', randomBytes(12 * MiB), 'follow');
      counter.rate = 6 * MiB; // about 2 s for the layer
      const [a, b] = replicas;
      const path = `/v2/team/follow/blobs/${img.layer}`;
      const first = timedGet(`${a.url}${path}`);
      await new Promise((r) => setTimeout(r, 500));
      const second = timedGet(`${b.url}${path}`);
      const [ra, rb] = await Promise.all([first, second]);
      counter.rate = null;
      assert.equal(ra.digest, img.layer);
      assert.equal(rb.digest, img.layer);
      assert.ok(ra.complete && rb.complete);
      assert.equal(counter.count(new RegExp(`^GET .*/blobs/${img.layer}$`)), 1, counter.requests.join('\n'));
      // Streamed, not served once stored: its first bytes came well before the first replica had them all.
      assert.ok(
        rb.first < ra.end - 500,
        `second replica's first byte ${rb.first - ra.end} ms after the download ended`,
      );
    });

    test("the downloading replica dies mid-download: the follower's client is cut off, and a retry fetches afresh", async () => {
      const img = await pushImage(up.url, 'team/killed', 'v1', randomBytes(12 * MiB), 'killed');
      counter.rate = 3 * MiB; // about 4 s
      const [a, b] = replicas;
      const path = `/v2/team/killed/blobs/${img.layer}`;
      const first = timedGet(`${a.url}${path}`).catch(() => null);
      await new Promise((r) => setTimeout(r, 500));
      const second = timedGet(`${b.url}${path}`);
      await new Promise((r) => setTimeout(r, 700));
      await a.stop('SIGKILL');
      const rb = await second;
      await first;
      assert.equal(rb.complete, false, 'the follower served a complete response of a blob it never had whole');
      counter.rate = null;
      const again = await timedGet(`${b.url}${path}`);
      assert.equal(again.digest, img.layer);
      assert.ok(again.complete);
      replicas[0] = await startWharf({ config });
    });
  },
);
