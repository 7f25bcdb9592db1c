/**
 * `notifications.endpoints` end to end: the real process POSTs Distribution's event envelopes to test receivers
 * while a client pushes, pulls, mounts and deletes. Proves the body format (envelope, actions, targets, request,
 * actor, source), the Content-Type and configured headers, `ignore` filtering, retries until a 500-answering
 * receiver accepts, that dead or silent endpoints neither fail nor stall registry requests, that their queues stay
 * bounded (drops counted, RSS growth bounded), and that SIGHUP re-applies the endpoints from the file.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, makeImage, OCI_MANIFEST, pushBlob, sha256, startWharf, testConfig, type Wharf } from './harness.js';
import { call, startSession, withQuery } from './api.js';
import { eventually, metric, scrape } from './ops.js';

const EVENTS_TYPE = 'application/vnd.docker.distribution.events.v2+json';
const UA = 'wharf-e2e-notifications/1';
const TOKEN = 'Bearer n0tify-s3cret-t0ken';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Target {
  mediaType?: string;
  digest?: string;
  size?: number;
  length?: number;
  repository?: string;
  fromRepository?: string;
  url?: string;
  tag?: string;
  references?: Array<{ mediaType: string; digest: string; size: number }>;
}
interface Event {
  id: string;
  timestamp: string;
  action: string;
  target: Target;
  request: { id: string; addr?: string; host?: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr?: string; instanceID?: string };
}
interface Post {
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
  events: Event[];
}

/** An HTTP receiver recording every POST; `answer(n)` gives the status of the n-th POST (1-based). */
interface Receiver {
  url: string;
  posts: Post[];
  /** Events of the POSTs answered 2xx. */
  accepted(): Event[];
  close(): Promise<void>;
}

async function startReceiver(answer: (n: number) => number = () => 202): Promise<Receiver> {
  const posts: Post[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('utf8');
      const status = answer(posts.length + 1);
      let events: Event[] = [];
      try {
        events = (JSON.parse(body) as { events: Event[] }).events;
      } catch {
        // recorded as is; the test fails on the empty list
      }
      posts.push({ headers: req.headers, body, status, events });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    posts,
    accepted: () => posts.filter((p) => p.status < 300).flatMap((p) => p.events),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A server that accepts connections and never answers: only the endpoint timeout ends its POSTs. */
async function startSilent(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(() => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function config(endpoints: string, extra = ''): string {
  return testConfig({
    logLevel: 'info',
    storage: '  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n',
    extra: `${extra}notifications:\n${endpoints}`,
  });
}

const get = (w: Wharf, path: string, init: RequestInit = {}) =>
  call(w.url, path, { ...init, headers: { 'User-Agent': UA, ...(init.headers as Record<string, string>) } });

function vmRssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, 'no VmRSS in /proc/<pid>/status');
  return Number(m[1]);
}

describe('notifications: events for pushes, pulls, mounts and deletes', () => {
  let w: Wharf;
  let all: Receiver;
  let filtered: Receiver;
  let flaky: Receiver;
  let deadPort: number;
  const name = 'notif/app';
  const other = 'notif/other';
  let img: Awaited<ReturnType<typeof makeImage>>;
  let extra: string;
  let manifestDigest: string;
  let manifestBody: string;
  const requestsOk: number[] = [];

  before(async () => {
    all = await startReceiver();
    filtered = await startReceiver();
    flaky = await startReceiver((n) => (n <= 3 ? 500 : 200));
    deadPort = await freePort();
    w = await startWharf({
      config: config(`  events:
    includereferences: true
  endpoints:
    - name: all
      url: ${all.url}
      headers:
        Authorization: ['${TOKEN}']
        X-Extra: [a, b]
    - name: filtered
      url: ${filtered.url}
      ignoredmediatypes: [application/octet-stream]
      ignore:
        actions: [pull]
    - name: flaky
      url: ${flaky.url}
      threshold: 2
      backoff: 100ms
    - name: dead
      url: http://127.0.0.1:${deadPort}/events
      timeout: 200ms
      threshold: 1
      backoff: 100ms
    - name: off
      disabled: true
      url: ${all.url}
`),
    });

    // Push: two monolithic blobs (makeImage), one through an upload session, then the manifest under two tags.
    img = await makeImage(w.url, name, 'notif');
    const extraBytes = Buffer.from('an extra blob through a session');
    extra = sha256(extraBytes);
    const loc = await startSession(w.url, name);
    let r = await get(w, withQuery(loc, 'digest', extra), {
      method: 'PUT',
      body: extraBytes,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    requestsOk.push(r.status);
    manifestBody = JSON.stringify(img.manifest);
    manifestDigest = sha256(manifestBody);
    for (const tag of ['v1', 'v2']) {
      r = await get(w, `/v2/${name}/manifests/${tag}`, {
        method: 'PUT',
        body: manifestBody,
        headers: { 'Content-Type': OCI_MANIFEST },
      });
      requestsOk.push(r.status);
    }
    // Pull: manifest by tag and blob by digest; HEAD requests are not pulls.
    requestsOk.push((await get(w, `/v2/${name}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })).status);
    requestsOk.push(
      (await get(w, `/v2/${name}/manifests/v1`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })).status,
    );
    requestsOk.push((await get(w, `/v2/${name}/blobs/${img.layer}`)).status);
    requestsOk.push((await get(w, `/v2/${name}/blobs/${img.layer}`, { method: 'HEAD' })).status);
    // Mount the layer into another repository.
    requestsOk.push(
      (await get(w, `/v2/${other}/blobs/uploads/?mount=${img.layer}&from=${name}`, { method: 'POST' })).status,
    );
    // Delete: tag v1, then the manifest by digest (which also removes tag v2), then the mounted blob.
    requestsOk.push((await get(w, `/v2/${name}/manifests/v1`, { method: 'DELETE' })).status);
    requestsOk.push((await get(w, `/v2/${name}/manifests/${manifestDigest}`, { method: 'DELETE' })).status);
    requestsOk.push((await get(w, `/v2/${other}/blobs/${img.layer}`, { method: 'DELETE' })).status);
  });

  after(async () => {
    await w?.cleanup();
    await Promise.all([all?.close(), filtered?.close(), flaky?.close()]);
  });

  test('every registry request succeeded although one endpoint is dead and one answers 500', () => {
    assert.deepEqual(requestsOk, [201, 201, 201, 200, 200, 200, 200, 201, 202, 202, 202]);
  });

  test('one POST per event, with the events media type and the configured headers', async () => {
    assert.ok(await eventually(() => all.posts.length >= 12), `got ${all.posts.length} POSTs`);
    for (const p of all.posts) {
      assert.equal(p.headers['content-type'], EVENTS_TYPE);
      assert.equal(p.headers.authorization, TOKEN);
      assert.equal(p.headers['x-extra'], 'a, b');
      assert.equal(p.events.length, 1, p.body);
      assert.deepEqual(Object.keys(JSON.parse(p.body) as object), ['events']);
    }
  });

  test('actions and targets in request order, as Distribution builds them', async () => {
    assert.ok(await eventually(() => all.posts.length >= 12));
    await new Promise((r) => setTimeout(r, 200)); // nothing more may arrive
    const events = all.posts.map((p) => p.events[0]);
    const summary = events.map((e) => `${e.action} ${e.target.repository} ${e.target.tag ?? e.target.digest}`);
    assert.deepEqual(summary, [
      `push ${name} ${img.config}`,
      `push ${name} ${img.layer}`,
      `push ${name} ${extra}`,
      `push ${name} v1`,
      `push ${name} v2`,
      `pull ${name} v1`,
      `pull ${name} ${img.layer}`,
      `mount ${other} ${img.layer}`,
      `delete ${name} v1`,
      `delete ${name} ${manifestDigest}`,
      `delete ${name} v2`,
      `delete ${other} ${img.layer}`,
    ]);
    const [
      pushConfig,
      pushLayer,
      pushExtra,
      pushV1,
      ,
      pullV1,
      pullLayer,
      mount,
      delTag,
      delManifest,
      delTag2,
      delBlob,
    ] = events;
    const layerSize = (img.manifest.layers as Array<{ size: number }>)[0].size;
    const configSize = (img.manifest.config as { size: number }).size;
    const blobUrl = (repo: string, d: string) => `${w.url}/v2/${repo}/blobs/${d}`;

    assert.deepEqual(pushConfig.target, {
      mediaType: 'application/octet-stream',
      digest: img.config,
      size: configSize,
      length: configSize,
      repository: name,
      url: blobUrl(name, img.config),
    });
    assert.deepEqual(pushLayer.target, {
      mediaType: 'application/octet-stream',
      digest: img.layer,
      size: layerSize,
      length: layerSize,
      repository: name,
      url: blobUrl(name, img.layer),
    });
    assert.equal(pushExtra.target.size, Buffer.byteLength('an extra blob through a session'));
    assert.equal(pushExtra.request.method, 'PUT');

    const manifestTarget = {
      mediaType: OCI_MANIFEST,
      digest: manifestDigest,
      size: Buffer.byteLength(manifestBody),
      length: Buffer.byteLength(manifestBody),
      repository: name,
      url: `${w.url}/v2/${name}/manifests/${manifestDigest}`,
      tag: 'v1',
      references: [img.manifest.config, ...(img.manifest.layers as unknown[])],
    };
    assert.deepEqual(pushV1.target, manifestTarget);
    assert.equal(pushV1.request.method, 'PUT');
    assert.deepEqual(pullV1.target, manifestTarget);
    assert.equal(pullV1.request.method, 'GET');
    assert.deepEqual(pullLayer.target, pushLayer.target);
    assert.deepEqual(mount.target, {
      mediaType: 'application/octet-stream',
      digest: img.layer,
      size: layerSize,
      length: layerSize,
      repository: other,
      fromRepository: name,
      url: blobUrl(other, img.layer),
    });
    assert.equal(mount.request.method, 'POST');
    assert.deepEqual(delTag.target, { repository: name, tag: 'v1' });
    assert.deepEqual(delManifest.target, { digest: manifestDigest, repository: name });
    assert.deepEqual(delTag2.target, { repository: name, tag: 'v2' });
    assert.deepEqual(delBlob.target, { digest: img.layer, repository: other });
    assert.equal(delBlob.request.method, 'DELETE');
  });

  test('request, actor and source records', async () => {
    assert.ok(await eventually(() => all.posts.length >= 12));
    const events = all.posts.map((p) => p.events[0]);
    const ids = new Set<string>();
    for (const e of events) {
      assert.match(e.id, UUID);
      ids.add(e.id);
      assert.ok(Math.abs(Date.parse(e.timestamp) - Date.now()) < 60_000, e.timestamp);
      assert.match(e.request.id, UUID);
      assert.match(e.request.addr ?? '', /^127\.0\.0\.1:\d+$/);
      assert.equal(e.request.host, `127.0.0.1:${w.port}`);
      assert.ok(e.request.useragent.length > 0, JSON.stringify(e.request));
      assert.deepEqual(e.actor, {}, 'no auth: the actor is empty, as in Distribution');
      assert.equal(e.source.addr, `${hostname()}:${w.port}`);
      assert.match(e.source.instanceID ?? '', UUID);
    }
    // The first two blobs were pushed by the harness's own fetch; every later request sent our User-Agent.
    for (const e of events.slice(2)) assert.equal(e.request.useragent, UA);
    assert.equal(ids.size, events.length, 'event ids are unique');
    assert.equal(new Set(events.map((e) => e.source.instanceID)).size, 1, 'one instance id per process');
  });

  test('ignore.actions and ignoredmediatypes filter per endpoint', async () => {
    assert.ok(await eventually(() => filtered.posts.length >= 6));
    await new Promise((r) => setTimeout(r, 200));
    const summary = filtered.posts.map(
      (p) => `${p.events[0].action} ${p.events[0].target.tag ?? p.events[0].target.digest}`,
    );
    // No pulls at all, no octet-stream (blob) pushes or mounts; deletes carry no media type and pass.
    assert.deepEqual(summary, [
      'push v1',
      'push v2',
      'delete v1',
      `delete ${manifestDigest}`,
      'delete v2',
      `delete ${img.layer}`,
    ]);
    assert.equal(filtered.posts[0].headers.authorization, undefined, 'headers are per endpoint');
  });

  test('a receiver answering 500 gets every event once it answers 200: the same event is retried', async () => {
    assert.ok(await eventually(() => flaky.accepted().length >= 12, 15_000), `accepted ${flaky.accepted().length}`);
    const first = flaky.posts.slice(0, 4).map((p) => p.events[0].id);
    assert.equal(new Set(first).size, 1, 'the first event is retried until accepted');
    assert.deepEqual(
      flaky.accepted().map((e) => e.id),
      all.posts.map((p) => p.events[0].id),
      'every event delivered once accepted, in order',
    );
  });

  test('the dead endpoint is logged as failing; header values never reach the log', async () => {
    assert.ok(await eventually(() => w.output().includes('endpoint dead is failing')), w.output());
    assert.match(w.output(), /configuring endpoint all/);
    assert.match(w.output(), /endpoint off disabled/);
    assert.ok(!w.output().includes('n0tify-s3cret-t0ken'), 'the Authorization value must not be logged');
  });
});

describe('notifications: dead and silent endpoints stay bounded', () => {
  let w: Wharf;
  let silent: Awaited<ReturnType<typeof startSilent>>;
  let debugPort: number;

  before(async () => {
    silent = await startSilent();
    const deadPort = await freePort();
    debugPort = await freePort();
    w = await startWharf({
      config: config(
        `  endpoints:
    - name: dead
      url: http://127.0.0.1:${deadPort}/events
      threshold: 3
      backoff: 50ms
    - name: silent
      url: ${silent.url}
      timeout: 300ms
      threshold: 1
      backoff: 50ms
`,
        `  debug:\n    addr: 127.0.0.1:${debugPort}\n    prometheus:\n      enabled: true\n`,
      ).replace('  level: info', '  level: warn'),
    });
  });

  after(async () => {
    await w?.cleanup();
    await silent?.close();
  });

  test('thousands of events: every request completes, drops are counted, queues and RSS stay bounded', async () => {
    const name = 'bounded/app';
    const digest = await pushBlob(w.url, name, 'tiny');
    const pulls = async (n: number, concurrency = 32): Promise<number[]> => {
      const statuses: number[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < n) {
            next++;
            const r = await fetch(`${w.url}/v2/${name}/blobs/${digest}`);
            await r.arrayBuffer();
            statuses.push(r.status);
          }
        }),
      );
      return statuses;
    };
    await pulls(500); // warm up the process before measuring
    const rssBefore = vmRssKiB(w.proc.pid!);
    const statuses = await pulls(6000);
    assert.equal(statuses.length, 6000);
    assert.ok(
      statuses.every((s) => s === 200),
      'every pull succeeded',
    );
    const rssAfter = vmRssKiB(w.proc.pid!);
    const growthMiB = (rssAfter - rssBefore) / 1024;
    assert.ok(growthMiB < 50, `RSS grew by ${growthMiB.toFixed(1)} MiB (${rssBefore} -> ${rssAfter} KiB)`);

    const samples = await scrape(`http://127.0.0.1:${debugPort}/metrics`);
    for (const endpoint of ['dead', 'silent']) {
      const queued = metric(samples, 'registry_notifications_events_total', { type: 'Events', endpoint });
      const dropped = metric(samples, 'registry_notifications_events_total', { type: 'Dropped', endpoint });
      const pending = metric(samples, 'registry_notifications_pending', { endpoint });
      assert.ok(queued >= 6501, `${endpoint}: ${queued} events queued`);
      assert.ok(pending <= 1000, `${endpoint}: ${pending} pending`);
      assert.ok(dropped >= queued - 1001, `${endpoint}: ${dropped} dropped of ${queued}`);
    }
    assert.ok(metric(samples, 'registry_notifications_events_total', { type: 'Errors', endpoint: 'dead' }) > 0);
    assert.match(w.output(), /endpoint dead is not keeping up; its queue is full/);
  });
});

describe('notifications: SIGHUP re-applies notifications.endpoints from the file', () => {
  let w: Wharf;
  let first: Receiver;
  let second: Receiver;

  before(async () => {
    first = await startReceiver();
    second = await startReceiver();
    w = await startWharf({ config: config(`  endpoints:\n    - name: first\n      url: ${first.url}\n`) });
  });

  after(async () => {
    await w?.cleanup();
    await Promise.all([first?.close(), second?.close()]);
  });

  test('after SIGHUP events go to the endpoints of the re-read file', async () => {
    await pushBlob(w.url, 'reload/app', 'before');
    assert.ok(await eventually(() => first.posts.length === 1));
    const path = join(w.dir, 'config.yml');
    writeFileSync(
      path,
      readFileSync(path, 'utf8').replace(
        `- name: first\n      url: ${first.url}`,
        `- name: second\n      url: ${second.url}`,
      ),
    );
    w.proc.kill('SIGHUP');
    assert.ok(await eventually(() => /SIGHUP: reloaded notifications \(1 endpoint\)/.test(w.output())), w.output());
    const digest = await pushBlob(w.url, 'reload/app', 'after');
    assert.ok(await eventually(() => second.posts.length === 1));
    assert.equal(second.posts[0].events[0].target.digest, digest);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(first.posts.length, 1, 'the removed endpoint gets nothing more');
  });
});
