import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import pino from 'pino';
import { parseConfig } from '../config/load.js';
import type { NotificationsConfig } from '../config/schema.js';
import { Metrics } from '../metrics.js';
import { EVENTS_MEDIA_TYPE, type Envelope, type EventContext } from './event.js';
import { httpSender, redactedUrl, splitCredentials } from './http.js';
import { metricsHooks, Notifier, sourceAddr } from './index.js';

const silent = pino({ level: 'silent' });
const D = `sha256:${'a'.repeat(64)}`;
const ctx: EventContext = { request: { id: 'r', method: 'PUT', useragent: 'ua' }, url: (p) => `http://reg${p}` };

function notifications(yaml: string): NotificationsConfig {
  return parseConfig(`version: 0.1\nstorage: inmemory\nnotifications:\n${yaml}`, 't.yml').config.notifications;
}

/** A receiver that records each POST; `answer` decides the status. */
async function receiver(
  answer: (n: number) => number = () => 200,
): Promise<{ url: string; posts: Array<{ headers: IncomingHttpHeaders; body: string }>; server: Server }> {
  const posts: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      posts.push({ headers: req.headers, body });
      res.writeHead(answer(posts.length)).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, posts, server };
}

test('sourceAddr: host name plus the configured port, as Distribution reports source.addr', () => {
  assert.equal(sourceAddr(':5000', 'node1'), 'node1:5000');
  assert.equal(sourceAddr('127.0.0.1:5001', 'node1'), 'node1:5001');
  assert.equal(sourceAddr('/run/registry.sock', 'node1'), 'node1');
});

test('the notifier sends each event to every enabled endpoint, and is off without endpoints', async () => {
  const seen: Record<string, string[]> = { a: [], b: [] };
  const n = new Notifier(
    notifications(`  endpoints:
    - name: a
      url: http://a/
    - name: b
      url: http://b/
      ignore:
        actions: [pull]
    - name: c
      disabled: true
`),
    { log: silent, httpAddr: ':5000', sender: (ec) => async (body) => (seen[ec.name].push(body), 200) },
  );
  assert.equal(n.enabled, true);
  n.write({ action: 'push', kind: 'blob', repository: 'r', digest: D, size: 1 }, ctx);
  n.write({ action: 'pull', kind: 'blob', repository: 'r', digest: D, size: 1 }, ctx);
  await n.drained();
  assert.equal(seen.a.length, 2);
  assert.equal(seen.b.length, 1);
  const env = JSON.parse(seen.a[0]) as Envelope;
  assert.match(env.events[0].source.instanceID!, /^[0-9a-f-]{36}$/);
  n.close();
  assert.equal(new Notifier(notifications('  endpoints: []\n'), { log: silent, httpAddr: ':5000' }).enabled, false);
});

test('configure() keeps unchanged endpoints with their queues and replaces changed or removed ones', async () => {
  const made: string[] = [];
  const n = new Notifier(
    notifications(`  endpoints:
    - name: keep
      url: http://keep/
    - name: change
      url: http://change/
`),
    {
      log: silent,
      httpAddr: ':5000',
      sender: (ec) => {
        made.push(`${ec.name}:${ec.url}`);
        return () => new Promise<number>(() => undefined); // never answers: the events stay queued
      },
    },
  );
  const active = n.configure(
    notifications(`  events:
    includereferences: true
  endpoints:
    - name: keep
      url: http://keep/
    - name: change
      url: http://changed/
    - name: new
      url: http://new/
`),
  );
  assert.deepEqual(active, ['keep', 'change', 'new']);
  assert.deepEqual(made, ['keep:http://keep/', 'change:http://change/', 'change:http://changed/', 'new:http://new/']);
  assert.deepEqual(n.configure(notifications('  endpoints: []\n')), []);
  assert.equal(n.enabled, false);
});

test('metricsHooks feed registry_notifications_* like Distribution, with Dropped added', async () => {
  const metrics = new Metrics(false);
  const h = metricsHooks(metrics);
  h.queued!('e');
  h.success!('e', 202);
  h.failure!('e', 500);
  h.error!('e');
  h.dropped!('e');
  h.pending!('e', 3);
  const text = await metrics.registry.metrics();
  assert.match(text, /registry_notifications_events_total\{type="Events",endpoint="e"\} 1/);
  assert.match(text, /registry_notifications_events_total\{type="Successes",endpoint="e"\} 1/);
  assert.match(text, /registry_notifications_events_total\{type="Failures",endpoint="e"\} 1/);
  assert.match(text, /registry_notifications_events_total\{type="Errors",endpoint="e"\} 1/);
  assert.match(text, /registry_notifications_events_total\{type="Dropped",endpoint="e"\} 1/);
  assert.match(text, /registry_notifications_status_total\{code="202 Accepted",endpoint="e"\} 1/);
  assert.match(text, /registry_notifications_pending\{endpoint="e"\} 3/);
});

test('httpSender POSTs the events media type with the configured headers, every value of each', async () => {
  const r = await receiver();
  try {
    const send = httpSender({
      url: r.url,
      headers: { Authorization: ['Bearer t0k'], 'X-Multi': ['a', 'b'] },
      timeoutMs: 1000,
    });
    assert.equal(await send('{"events":[]}', new AbortController().signal), 200);
    const [p] = r.posts;
    assert.equal(p.headers['content-type'], EVENTS_MEDIA_TYPE);
    assert.equal(p.headers.authorization, 'Bearer t0k');
    assert.equal(p.headers['x-multi'], 'a, b');
    assert.equal(p.body, '{"events":[]}');
  } finally {
    r.server.close();
  }
});

test('httpSender: URL credentials become Basic auth and are kept out of logs; statuses are returned as they are', async () => {
  const r = await receiver((n) => (n === 1 ? 500 : 204));
  try {
    const withUser = r.url.replace('http://', 'http://hook:p%40ss@');
    assert.equal(redactedUrl(withUser), r.url);
    assert.equal(splitCredentials(withUser).authorization, `Basic ${Buffer.from('hook:p@ss').toString('base64')}`);
    const send = httpSender({ url: withUser, headers: {}, timeoutMs: 1000 });
    assert.equal(await send('{}', new AbortController().signal), 500);
    assert.equal(await send('{}', new AbortController().signal), 204);
    assert.equal(r.posts[0].headers.authorization, `Basic ${Buffer.from('hook:p@ss').toString('base64')}`);
  } finally {
    r.server.close();
  }
});

test(
  'httpSender: the timeout bounds every POST that gets no answer, garbage collections or not',
  { timeout: 20_000 },
  async () => {
    const server = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const send = httpSender({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
        headers: {},
        timeoutMs: 100,
      });
      const stop = new AbortController(); // long-lived, like an endpoint's
      for (let i = 0; i < 10; i++) {
        const started = Date.now();
        const pending = send('{}', stop.signal);
        // Garbage while the POST waits: a timeout held only weakly would be collected and never fire (nodejs/node#57736).
        for (let j = 0; j < 20; j++) Array.from({ length: 50_000 }, (_, k) => ({ k }));
        await assert.rejects(pending, (err: Error) => err.name === 'TimeoutError');
        assert.ok(Date.now() - started < 3000, `attempt ${i} took ${Date.now() - started} ms`);
      }
      const aborted = send('{}', stop.signal);
      stop.abort();
      await assert.rejects(aborted);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  },
);
