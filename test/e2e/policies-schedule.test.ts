/**
 * `gc.schedule` on two replicas sharing one data directory and one Redis (real redis-server): exactly one
 * replica runs each period; pushes continuing through the runs lose nothing; each run untags and deletes what the
 * policies say, logs one line per removal, sends `delete` events to notifications and counts in the metrics; and
 * when the replica running a period is killed, the other takes that period over once the lease expires.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, startWharf, type Wharf } from './harness.js';
import { eventually, metric, parseMetrics, sleep } from './ops.js';
import { complete, Fixture, listTags, pushItem, type Item } from './policies-fixture.js';
import { REDIS_MISSING, REDIS_SERVER, startRedis, type RedisServer } from './redisserver.js';

const INTERVAL_S = 6;

describe('scheduled cleanup on two replicas sharing Redis', { skip: REDIS_SERVER ? false : REDIS_MISSING }, () => {
  let redis: RedisServer;
  let shared: string;
  let hook: Server;
  const events: Array<{ action: string; target: { repository?: string; tag?: string; digest?: string } }> = [];
  const replicas: Record<'a' | 'b', { w: Wharf; debug: number }> = {} as never;
  const f = new Fixture();

  const config = (debug: number, hookUrl: string) => `version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(shared, 'data')}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{{port}}
  secret: e2e-schedule-secret
  debug:
    addr: 127.0.0.1:${debug}
    prometheus:
      enabled: true
redis:
  addrs: [${redis.addr}]
gc:
  graceperiod: 1s
  schedule:
    interval: ${INTERVAL_S}s
    lease: 1500ms
policies:
  - repositories: ["ci/**"]
    keep:
      - recent: 1
notifications:
  endpoints:
    - name: hook
      url: ${hookUrl}
      timeout: 2s
      threshold: 3
      backoff: 1s
`;

  /** `period N` numbers of the log lines matching `what` ("started on this replica", "done"). */
  const periods = (w: Wharf, what: string) =>
    [...w.output().matchAll(new RegExp(`scheduled cleanup: period (\\d+) ${what}`, 'g'))].map((m) => Number(m[1]));
  const both = (what: string) => [...periods(replicas.a.w, what), ...periods(replicas.b.w, what)];

  before(async () => {
    redis = await startRedis();
    shared = mkdtempSync(join(tmpdir(), 'wharf-e2e-schedule-'));
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        for (const e of (JSON.parse(body) as { events: typeof events }).events) events.push(e);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/events`;
    for (const name of ['a', 'b'] as const) {
      const debug = await freePort();
      replicas[name] = { w: await startWharf({ config: config(debug, hookUrl) }), debug };
    }
  });

  after(async () => {
    for (const r of Object.values(replicas)) await r?.w.cleanup();
    await redis?.stop();
    hook?.close();
    if (shared) rmSync(shared, { recursive: true, force: true });
  });

  test('a run untags and deletes what the policies say, logs each removal, notifies and counts', async () => {
    const old = f.image('ci/app', 'old', 'old', false, 0);
    const fresh = f.image('ci/app', 'new', 'new', true, 0);
    await pushItem(replicas.a.w.url, old);
    await sleep(20); // distinct link times
    await pushItem(replicas.b.w.url, fresh);
    assert.ok(
      await eventually(
        async () => (await listTags(replicas.a.w.url, 'ci/app')).join() === 'new',
        4 * INTERVAL_S * 1000,
        200,
      ),
      'the old tag was never untagged',
    );
    const ran = (['a', 'b'] as const).find((n) => /cleanup: untagged ci\/app:old/.test(replicas[n].w.output()))!;
    assert.ok(ran, 'one replica logged the untag');
    // A tag pushed within the grace period waits for a later period, so that its manifest goes with it (before,
    // an untag in the first second left the manifest behind for good); look on both replicas.
    const deleted = new RegExp(`cleanup: deleted manifest ci/app@${old.manifest.digest}`);
    let remover: 'a' | 'b' | undefined;
    assert.ok(
      await eventually(
        () => (remover = (['a', 'b'] as const).find((n) => deleted.test(replicas[n].w.output()))) !== undefined,
        2 * INTERVAL_S * 1000,
        100,
      ),
      replicas.a.w.output() + replicas.b.w.output(),
    );
    // The blobs go after the manifest (the run's GC): their lines may follow it a moment later.
    const blobDeleted = new RegExp(`cleanup: deleted blob ${old.blobs[0].digest} \\(\\d+ bytes\\)`);
    assert.ok(
      await eventually(() => blobDeleted.test(replicas[remover!].w.output()), 2 * INTERVAL_S * 1000, 100),
      `its config blob: ${replicas[remover!].w.output()}`,
    );
    assert.ok(
      await eventually(
        () =>
          events.some((e) => e.action === 'delete' && e.target.tag === 'old') &&
          events.some((e) => e.action === 'delete' && e.target.digest === old.manifest.digest) &&
          events.some(
            (e) => e.action === 'delete' && e.target.digest === old.blobs[0].digest && e.target.repository === 'ci/app',
          ),
        10_000,
      ),
      JSON.stringify(events),
    );
    const samples = parseMetrics(await (await fetch(`http://127.0.0.1:${replicas[ran].debug}/metrics`)).text());
    assert.ok(metric(samples, 'wharf_cleanup_tags_untagged_total') >= 1);
    const removed = parseMetrics(await (await fetch(`http://127.0.0.1:${replicas[remover!].debug}/metrics`)).text());
    assert.ok(metric(removed, 'wharf_cleanup_manifests_deleted_total') >= 1);
    assert.ok(metric(removed, 'wharf_cleanup_bytes_freed_total') > 0);
    assert.ok(metric(samples, 'wharf_cleanup_last_run_timestamp_seconds') > Date.now() / 1000 - 60);
    assert.ok(await complete(replicas.a.w.url, fresh));
  });

  test('exactly one replica runs each period, while pushes continue and lose nothing', async () => {
    const pushed: Item[] = [];
    let pushing = true;
    const pusher = (async () => {
      for (let i = 0; pushing; i++) {
        const target = i % 2 === 0 ? replicas.a.w.url : replicas.b.w.url;
        const live = f.image('live/app', `live-${i}`, `live-${i}`, true, 0);
        await pushItem(target, live);
        pushed.push(live);
        await pushItem(target, f.image('ci/app', `gen-${i}`, `gen-${i}`, false, 0));
      }
    })();
    const first = Math.max(0, ...both('done'));
    const enough = await eventually(
      () => new Set(both('done').filter((p) => p > first)).size >= 3,
      6 * INTERVAL_S * 1000,
      200,
    );
    pushing = false;
    await pusher;
    assert.ok(enough, 'three more periods ran');
    const started = both('started on this replica');
    for (const p of new Set(started))
      assert.equal(started.filter((x) => x === p).length, 1, `period ${p} started once: ${started}`);
    const done = both('done');
    for (const p of new Set(done)) assert.equal(done.filter((x) => x === p).length, 1, `period ${p} done once`);
    assert.ok(pushed.length > 3, `pushes went on during the runs (${pushed.length})`);
    for (const item of pushed) assert.ok(await complete(replicas.b.w.url, item), `${item.tag} is complete`);
    assert.deepEqual(await listTags(replicas.a.w.url, 'live/app'), pushed.map((p) => p.tag!).sort());
  });

  test('the other replica takes a period over when the one running it is killed', async () => {
    // An unreferenced blob older than the grace period: the next run parks it and waits before deleting.
    const orphan = Buffer.from(`orphan ${Date.now()}`);
    const digest = `sha256:${(await import('node:crypto')).createHash('sha256').update(orphan).digest('hex')}`;
    const r = await fetch(`${replicas.a.w.url}/v2/ci/app/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: new Uint8Array(orphan),
    });
    assert.equal(r.status, 201);
    const seen = {
      a: periods(replicas.a.w, 'started on this replica').length,
      b: periods(replicas.b.w, 'started on this replica').length,
    };
    let holder: 'a' | 'b' | undefined;
    assert.ok(
      await eventually(
        () => {
          holder = (['a', 'b'] as const).find(
            (n) => periods(replicas[n].w, 'started on this replica').length > seen[n],
          );
          return holder !== undefined;
        },
        3 * INTERVAL_S * 1000,
        20,
      ),
      'a run started',
    );
    const period = periods(replicas[holder!].w, 'started on this replica').at(-1)!;
    await replicas[holder!].w.stop('SIGKILL');
    const other = replicas[holder === 'a' ? 'b' : 'a'].w;
    assert.ok(
      await eventually(() => periods(other, 'done').includes(period), 3 * INTERVAL_S * 1000, 100),
      `period ${period} was taken over:\n${other.output().slice(-3000)}`,
    );
    assert.match(
      other.output(),
      new RegExp(`scheduled cleanup: period ${period} started on this replica \\(taken over`),
    );
    const hex = digest.slice(7);
    const data = join(shared, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex);
    assert.ok(
      await eventually(
        () => !existsSync(join(data, 'data')) && !existsSync(join(data, 'gc-quarantine')),
        3 * INTERVAL_S * 1000,
        200,
      ),
      'the orphan blob was collected (parked copy included)',
    );
    for (const tag of await listTags(other.url, 'live/app')) {
      const live = f.items.find((i) => i.repo === 'live/app' && i.tag === tag)!;
      assert.ok(await complete(other.url, live), `${tag} survived the interrupted run`);
    }
  });
});
