import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { BoundedQueue, Endpoint, type EndpointOptions } from './endpoint.js';
import type { Event, EventAction } from './event.js';
import type { Sender } from './http.js';

/** A logger that keeps its lines for assertions. */
function memoryLog(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: pino({ level: 'debug' }, { write: (l: string) => lines.push(l) }), lines };
}

let seq = 0;
function event(action: EventAction = 'push', mediaType = 'application/octet-stream'): Event {
  seq++;
  return {
    id: `e${seq}`,
    timestamp: new Date().toISOString(),
    action,
    target: { mediaType, digest: `sha256:${String(seq).padStart(64, '0')}`, repository: 'r' },
    request: { id: 'q', method: 'PUT', useragent: 'ua' },
    actor: {},
    source: {},
  };
}

function endpoint(send: Sender, extra: Partial<EndpointOptions> = {}): { ep: Endpoint; lines: string[] } {
  const { log, lines } = memoryLog();
  const ep = new Endpoint({
    name: 'ep',
    displayUrl: 'http://x/',
    send,
    threshold: 3,
    backoffMs: 20,
    ignoreMediaTypes: [],
    ignoreActions: [],
    log,
    ...extra,
  });
  return { ep, lines };
}

/** Polls until `cond` holds (bounded). */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ids = (bodies: string[]) =>
  bodies.map((b) => (JSON.parse(b) as { events: Event[] }).events.map((e) => e.id)).flat();

test('BoundedQueue keeps order and pushes out the oldest element when full', () => {
  const q = new BoundedQueue<number>(3);
  assert.equal(q.push(1), undefined);
  q.push(2);
  q.push(3);
  assert.equal(q.push(4), 1);
  assert.equal(q.push(5), 2);
  assert.equal(q.length, 3);
  assert.deepEqual([q.shift(), q.shift(), q.shift(), q.shift()], [3, 4, 5, undefined]);
  q.push(6);
  assert.equal(q.length, 1);
  q.clear();
  assert.equal(q.length, 0);
  assert.throws(() => new BoundedQueue(0), RangeError);
});

test('events are delivered in order, one envelope per POST, and write() never waits', async () => {
  const bodies: string[] = [];
  const { ep } = endpoint(async (body) => {
    bodies.push(body);
    return 202;
  });
  const sent = [event(), event(), event()];
  const started = Date.now();
  for (const e of sent) ep.write(e);
  assert.ok(Date.now() - started < 50);
  await ep.drained();
  assert.deepEqual(
    ids(bodies),
    sent.map((e) => e.id),
  );
  for (const b of bodies) assert.equal((JSON.parse(b) as { events: unknown[] }).events.length, 1);
});

test('ignore: actions and media types are filtered before queueing', async () => {
  const bodies: string[] = [];
  const { ep } = endpoint(
    async (body) => {
      bodies.push(body);
      return 200;
    },
    { ignoreActions: ['pull'], ignoreMediaTypes: ['application/octet-stream'] },
  );
  const kept = event('push', 'application/vnd.oci.image.manifest.v1+json');
  const tag = { ...event('delete'), target: { repository: 'r', tag: 't' } };
  ep.write(event('pull', 'application/vnd.oci.image.manifest.v1+json'));
  ep.write(event('push', 'application/octet-stream'));
  ep.write(kept);
  ep.write(tag);
  await ep.drained();
  assert.deepEqual(ids(bodies), [kept.id, tag.id], 'a target without a media type is never filtered by media type');
});

test('the queue is bounded: while the endpoint is down the oldest events are dropped, counted and logged once', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const bodies: string[] = [];
  const drops: string[] = [];
  const { ep, lines } = endpoint(
    async (body) => {
      await gate;
      bodies.push(body);
      return 200;
    },
    { queueSize: 5, hooks: { dropped: (n) => drops.push(n) } },
  );
  const all = Array.from({ length: 50 }, () => event());
  for (const e of all) ep.write(e);
  // The first event is in flight (held outside the queue); 5 more wait; 44 were dropped.
  assert.equal(ep.pending, 5);
  assert.equal(ep.dropped, 44);
  assert.equal(drops.length, 44);
  assert.equal(
    lines.filter((l) => l.includes('queue is full')).length,
    1,
    'drops are logged at most once per interval',
  );
  release();
  await ep.drained();
  assert.deepEqual(ids(bodies), [all[0].id, ...all.slice(45).map((e) => e.id)]);
});

test('failures are retried: at once below the threshold, then every backoff, with a failing/recovered log', async () => {
  const times: number[] = [];
  const statuses: number[] = [];
  let answers = [500, 500, 500, 500, 0, 201];
  const { ep, lines } = endpoint(
    async () => {
      times.push(Date.now());
      const s = answers[0];
      answers = answers.slice(1);
      if (s === 0) throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
      return s;
    },
    {
      threshold: 3,
      backoffMs: 300,
      hooks: {
        failure: (_n, s) => statuses.push(s),
        error: () => statuses.push(0),
        success: (_n, s) => statuses.push(s),
      },
    },
  );
  ep.write(event());
  await ep.drained();
  assert.deepEqual(statuses, [500, 500, 500, 500, 0, 201]);
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  // Wide margins: this runs beside other test files on a busy machine.
  assert.ok(gaps[0] < 150 && gaps[1] < 150, `retries below the threshold are immediate: ${gaps.join(',')}`);
  for (const g of gaps.slice(2))
    assert.ok(g >= 280, `after 3 failures every attempt waits the backoff: ${gaps.join(',')}`);
  assert.equal(lines.filter((l) => l.includes('is failing')).length, 1);
  assert.ok(lines.some((l) => l.includes('recovered')));
  assert.ok(lines.some((l) => l.includes('ECONNREFUSED')));
  assert.equal(ep.isFailing, false);
});

test('3xx answers count as delivered, like Distribution', async () => {
  const { ep } = endpoint(async () => 302);
  let ok = 0;
  const { ep: counted } = endpoint(async () => 304, { hooks: { success: () => ok++ } });
  ep.write(event());
  counted.write(event());
  await Promise.all([ep.drained(), counted.drained()]);
  assert.equal(ok, 1);
});

test('stop() abandons the queue, aborts the POST in flight and ends the retry loop', async () => {
  let aborted = false;
  const { ep } = endpoint(
    (_body, signal) =>
      new Promise<number>((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          reject(new Error('aborted'));
        });
      }),
  );
  for (let i = 0; i < 4; i++) ep.write(event());
  await until(() => ep.pending === 3);
  assert.equal(ep.stop(), 3);
  await ep.drained();
  assert.equal(aborted, true);
  ep.write(event());
  assert.equal(ep.pending, 0, 'a stopped endpoint takes nothing');
});

test('a dead endpoint keeps retrying on a timer without holding more than the queue', async () => {
  let attempts = 0;
  const { ep } = endpoint(
    async () => {
      attempts++;
      throw new Error('connect ECONNREFUSED');
    },
    { threshold: 2, backoffMs: 10, queueSize: 10 },
  );
  for (let i = 0; i < 10_000; i++) ep.write(event());
  assert.equal(ep.pending, 10);
  await until(() => attempts >= 5);
  assert.equal(ep.isFailing, true);
  ep.stop();
});
