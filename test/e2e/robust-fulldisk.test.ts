/**
 * A full disk (issue 12): wharf's data directory on a small tmpfs whose free pages or free inodes are set, before
 * each push, to every value from none to enough, so that the push runs out of space at every step of its commit
 * path in turn (upload state, upload data, blob rename, layer link, manifest, revision link, tag), for
 * monolithic, chunked and streamed uploads. Every refused write answers 503 with the JSON error body (no hang,
 * no reset, no path), reads keep working, nothing partial becomes visible, /debug/health and the metric say the
 * storage is full, and once space is freed the cut session is finished (or restarted) and pushes work again,
 * without a restart. Needs root (mount); skipped with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  existsSync,
  readdirSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  statfsSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, startWharf, testConfig, type Wharf } from './harness.js';
import { alive, filesUnder } from './robust.js';

const PAGE = 4096;

/** Mounts the tmpfs now (synchronously), so that the suites below know whether to skip, and why. */
function mountTmpfs(): { base: string; mnt: string } | string {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  const base = mkdtempSync(join(tmpdir(), 'wharf-fulldisk-'));
  const mnt = join(base, 'data');
  mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,nr_inodes=30000', 'tmpfs', mnt], { stdio: 'pipe' });
    return { base, mnt };
  } catch (err) {
    rmSync(base, { recursive: true, force: true });
    return `cannot mount a tmpfs: ${(err as Error).message.split('\n')[0]}`;
  }
}

const mounted = mountTmpfs();
const skip: string | false = typeof mounted === 'string' ? mounted : false;
const base = typeof mounted === 'string' ? '' : mounted.base;
const mnt = typeof mounted === 'string' ? '' : mounted.mnt;
let w: Wharf;
let debugUrl = '';

/** Fills the tmpfs to a chosen number of free pages or inodes; `release()` gives everything back. */
class Filler {
  private readonly dir: string;
  private bulk = 0;
  private inodes = 0;
  constructor(private readonly at: string) {
    this.dir = join(at, 'filler');
    mkdirSync(this.dir);
    writeFileSync(join(this.dir, 'bulk'), '');
  }
  private free() {
    const s = statfsSync(this.at);
    return { pages: (Number(s.bavail) * Number(s.bsize)) / PAGE, inodes: Number(s.ffree) };
  }
  /** Leaves exactly `pages` pages free (as far as tmpfs counts). */
  pages(pages: number): void {
    const bulk = join(this.dir, 'bulk');
    let f = this.free().pages;
    if (f > pages) {
      const fd = openSync(bulk, 'a');
      const chunk = Buffer.alloc(PAGE * 64, 1);
      try {
        while ((f = this.free().pages) > pages) {
          const n = Math.min(f - pages, 64) * PAGE;
          writeSync(fd, chunk, 0, n);
          this.bulk += n;
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        closeSync(fd);
      }
    }
    while ((f = this.free().pages) < pages && this.bulk > 0) {
      this.bulk = Math.max(0, this.bulk - (pages - f) * PAGE);
      truncateSync(bulk, this.bulk);
    }
  }
  /** Leaves exactly `n` inodes free. */
  inodesFree(n: number): void {
    let f = this.free().inodes;
    while (f > n) {
      try {
        appendFileSync(join(this.dir, `i${this.inodes}`), '');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
      this.inodes++;
      f--;
    }
    while ((f = this.free().inodes) < n && this.inodes > 0) unlinkSync(join(this.dir, `i${--this.inodes}`));
  }
  /** Frees space: leaves 8 MiB and 1,000 inodes free (freeing all would make every next fill slow). */
  release(): void {
    this.inodesFree(1000);
    this.pages(2048);
  }
}

let filler: Filler;

before(async () => {
  if (skip) return;
  filler = new Filler(mnt);
  const debugPort = await freePort();
  debugUrl = `http://127.0.0.1:${debugPort}`;
  const config = testConfig({
    http: `  debug:\n    addr: 127.0.0.1:${debugPort}\n    prometheus:\n      enabled: true\n`,
    storage: '  delete:\n    enabled: true\n',
  }).replace('rootdirectory: {{data}}', `rootdirectory: ${join(mnt, 'registry')}`);
  w = await startWharf({ dir: base, config });
});

after(async () => {
  if (w) await w.stop('SIGKILL');
  if (mnt) execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
  if (base) rmSync(base, { recursive: true, force: true });
});

type Mode = 'monolithic' | 'chunked' | 'streamed';
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** One request; a reset or a hang (past 30 s) fails the test. */
async function req(path: string, init: RequestInit = {}): Promise<Answer> {
  const r = await fetch(path.startsWith('http') ? path : `${w.url}${path}`, {
    redirect: 'manual',
    signal: AbortSignal.timeout(30_000),
    ...init,
  });
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

/** A refusal must be a 503 JSON UNAVAILABLE saying storage is full, with no path. */
function assertFull(a: Answer, what: string): void {
  assert.equal(a.status, 503, `${what}: ${a.status} ${a.body}`);
  assert.match(a.headers.get('content-type') ?? '', /^application\/json/, what);
  const text = a.body.toString();
  const j = JSON.parse(text) as { errors: Array<{ code: string; message: string }> };
  assert.equal(j.errors[0].code, 'UNAVAILABLE', text);
  assert.match(j.errors[0].message, /full/, text);
  assert.doesNotMatch(text, /\/|ENOSPC/, `${what} leaks internals: ${text}`);
}

const loc = (a: Answer) => {
  const u = new URL(a.headers.get('location')!, w.url);
  return `${u.pathname}${u.search}`;
};
const withDigest = (l: string, d: string) => `${l}${l.includes('?') ? '&' : '?'}digest=${d}`;

function streamOf(data: Buffer): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= data.length) return c.close();
      c.enqueue(new Uint8Array(data.subarray(sent, sent + 2500)));
      sent += 2500;
    },
  });
}

/** Where a push stopped: the request that was refused, and the session it left (chunked/streamed). */
interface Cut {
  step: string;
  session?: string;
}

/** Pushes `data` as a blob; returns null when it got 201, or where it was refused (asserting the refusal's shape). */
async function pushBlob(name: string, data: Buffer, mode: Mode): Promise<Cut | null> {
  const d = sha(data);
  if (mode === 'monolithic') {
    const a = await req(`/v2/${name}/blobs/uploads/?digest=${d}`, { method: 'POST', body: new Uint8Array(data) });
    if (a.status === 201) return null;
    assertFull(a, 'monolithic POST');
    return { step: 'monolithic' };
  }
  const s = await req(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
  if (s.status !== 202) {
    assertFull(s, 'POST');
    return { step: 'start' };
  }
  let session = loc(s);
  const half = Math.floor(data.length / 2);
  const parts = mode === 'chunked' ? [data.subarray(0, half), data.subarray(half)] : [data];
  let offset = 0;
  for (const part of parts) {
    const init: RequestInit =
      mode === 'chunked'
        ? {
            method: 'PATCH',
            body: new Uint8Array(part),
            headers: {
              'Content-Range': `${offset}-${offset + part.length - 1}`,
              'Content-Type': 'application/octet-stream',
            },
          }
        : ({
            method: 'PATCH',
            body: streamOf(part),
            duplex: 'half',
            headers: { 'Content-Type': 'application/octet-stream' },
          } as RequestInit);
    const a = await req(session, init);
    if (a.status !== 202) {
      assertFull(a, `PATCH at ${offset}`);
      return { step: `patch@${offset}`, session };
    }
    session = loc(a);
    offset += part.length;
  }
  const p = await req(withDigest(session, d), { method: 'PUT' });
  if (p.status === 201) return null;
  assertFull(p, 'PUT');
  return { step: 'complete', session };
}

/** After space is freed: finishes a cut session from where its status says it is, else pushes anew. */
async function finishOrRestart(name: string, data: Buffer, mode: Mode, cut: Cut): Promise<void> {
  if (cut.session) {
    const st = await req(cut.session);
    if (st.status === 204) {
      const offset =
        Number(/^0-(\d+)$/.exec(st.headers.get('range') ?? '')?.[1] ?? -1) +
        (st.headers.get('range') === '0-0' ? 0 : 1);
      assert.ok(offset >= 0 && offset <= data.length, `status Range ${st.headers.get('range')}`);
      const rest = data.subarray(offset);
      const headers: Record<string, string> =
        rest.length > 0 ? { 'Content-Range': `${offset}-${data.length - 1}` } : {};
      const p = await req(withDigest(loc(st), sha(data)), {
        method: 'PUT',
        body: rest.length > 0 ? new Uint8Array(rest) : undefined,
        headers,
      });
      assert.equal(p.status, 201, `finishing the cut session: ${p.body}`);
      return;
    }
    assert.equal(st.status, 404, `status of the cut session: ${st.status} ${st.body}`);
  }
  assert.equal(await pushBlob(name, data, mode), null, 'pushing again after space was freed');
}

/** What a client may see of `name` at any moment: each blob complete or absent, the tag complete or absent. */
async function assertNothingPartial(name: string, blobs: Buffer[], manifest: Buffer): Promise<void> {
  for (const b of blobs) {
    const g = await req(`/v2/${name}/blobs/${sha(b)}`);
    assert.ok(g.status === 404 || (g.status === 200 && g.body.equals(b)), `blob ${g.status}`);
  }
  const m = await req(`/v2/${name}/manifests/latest`, { headers: { Accept: OCI_MANIFEST } });
  assert.ok(m.status === 404 || (m.status === 200 && m.body.equals(manifest)), `manifest ${m.status} ${m.body}`);
  const tags = await req(`/v2/${name}/tags/list`);
  if (tags.status === 200) {
    const list = (JSON.parse(tags.body.toString()) as { tags: string[] | null }).tags ?? [];
    assert.equal(
      list.includes('latest'),
      m.status === 200,
      `tags/list ${tags.body} while the manifest answers ${m.status}`,
    );
  }
  assert.deepEqual(
    filesUnder(mnt).filter((f) => f.includes('.tmp-')),
    [],
    'temporary files left behind',
  );
}

const V2 = () => join(mnt, 'registry', 'docker/registry/v2');
const hex = (b: Buffer) => sha(b).slice(7);
const globalBlob = (b: Buffer) => existsSync(join(V2(), 'blobs/sha256', hex(b).slice(0, 2), hex(b), 'data'));
const repoPath = (name: string, ...rest: string[]) => join(V2(), 'repositories', name, ...rest);

/** Names the step of the commit path a refusal cut, from what storage holds after it. */
function stepOf(name: string, refused: string, blob: Buffer | null, manifest: Buffer): string {
  if (refused === 'manifest') {
    if (!globalBlob(manifest)) return 'manifest blob';
    if (!existsSync(repoPath(name, '_manifests/revisions/sha256', hex(manifest), 'link'))) return 'revision link';
    return 'tag';
  }
  if (refused === 'blob start') return 'upload state';
  if (refused.startsWith('blob patch')) return 'upload data';
  if (blob && globalBlob(blob)) return 'layer link';
  if (refused === 'blob complete') return 'blob rename';
  // Monolithic: the session is left behind when its data could not be written, absent when its state could not.
  const sessions = existsSync(repoPath(name, '_uploads')) ? readdirSync(repoPath(name, '_uploads')).length : 0;
  return sessions > 0 ? 'upload data or blob rename' : 'upload state';
}

/** Every step some refusal cut, over all the tests. */
const cutSteps = new Set<string>();

/** Pushes config + layer + tagged manifest with `limit` applied first; returns where it was refused, if anywhere. */
async function scenario(name: string, mode: Mode, limit: () => void, seed: string): Promise<string | null> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const layer = Buffer.alloc(6000, seed);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha(config), size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: sha(layer), size: layer.length }],
    }),
  );
  limit();
  let refused: string | null = null;
  let cut: { blob: Buffer; cut: Cut } | null = null;
  for (const blob of [config, layer]) {
    const c = await pushBlob(name, blob, mode);
    if (c) {
      cut = { blob, cut: c };
      refused = `blob ${c.step}`;
      break;
    }
  }
  if (!refused) {
    const a = await req(`/v2/${name}/manifests/latest`, {
      method: 'PUT',
      body: new Uint8Array(manifest),
      headers: { 'Content-Type': OCI_MANIFEST },
    });
    if (a.status !== 201) {
      assertFull(a, 'manifest PUT');
      refused = 'manifest';
    }
  }
  if (refused) {
    refused = stepOf(name, refused, cut?.blob ?? null, manifest);
    cutSteps.add(`${mode}: ${refused}`);
  }
  // Still full: reads work, nothing partial shows, health and metric tell.
  assert.equal((await req('/v2/')).status, 200);
  await assertNothingPartial(name, [config, layer], manifest);
  if (refused) {
    // The metric first: /debug/health starts a write probe, which may find room for its few bytes.
    assert.match((await req(`${debugUrl}/metrics`)).body.toString(), /^registry_storage_full 1$/m);
    const h = await req(`${debugUrl}/debug/health`);
    assert.match(h.body.toString(), /storage is full/, `debug/health: ${h.body}`);
  }
  filler.release();
  if (cut) await finishOrRestart(name, cut.blob, mode, cut.cut);
  for (const blob of [config, layer]) assert.equal(await pushBlob(name, blob, mode), null);
  const again = await req(`/v2/${name}/manifests/latest`, {
    method: 'PUT',
    body: new Uint8Array(manifest),
    headers: { 'Content-Type': OCI_MANIFEST },
  });
  assert.equal(again.status, 201, `manifest after space was freed: ${again.body}`);
  const pulled = await req(`/v2/${name}/manifests/latest`, { headers: { Accept: OCI_MANIFEST } });
  assert.ok(pulled.body.equals(manifest));
  for (const b of [config, layer]) assert.ok((await req(`/v2/${name}/blobs/${sha(b)}`)).body.equals(b));
  return refused;
}

/** Polls until the health endpoint no longer reports storage full (a write probe runs every 2 s meanwhile). */
async function healthClears(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (!/storage is full/.test((await req(`${debugUrl}/debug/health`)).body.toString())) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail('debug/health kept reporting storage full after space was freed');
}

for (const mode of ['monolithic', 'chunked', 'streamed'] as const) {
  describe(`${mode} pushes on a full disk`, { skip }, () => {
    test('out of pages at every step, then pushed again', async (t) => {
      const steps = new Set<string>();
      const every = () =>
        [
          'tag',
          'manifest blob',
          'upload state',
          mode === 'monolithic' ? 'upload data or blob rename' : 'upload data',
        ].every((step) => steps.has(step));
      // One page more per push moves the cut one step on. A page the server frees in the background between the
      // fill and the push (a session directory removed after its answer, a health probe's file) can make one push
      // skip a step, so a sweep that missed one is run again (at most three), with new repositories.
      for (let sweep = 0; sweep < 3 && !every(); sweep++) {
        await healthClears();
        for (let pages = 0; pages <= 24; pages++) {
          const name = `fd/${mode}-s${sweep}-p${pages}`;
          const refused = await scenario(name, mode, () => filler.pages(pages), `s${sweep}-p${pages}-${mode}`);
          if (refused) steps.add(refused);
          else break;
        }
      }
      t.diagnostic(`refused at: ${[...steps].join(', ')}`);
      assert.ok(
        steps.has('tag') && steps.has('manifest blob'),
        `never refused at the manifest or tag: ${[...steps].join(', ')}`,
      );
      assert.ok(
        steps.has('upload state') && steps.has(mode === 'monolithic' ? 'upload data or blob rename' : 'upload data'),
        `refused only at ${[...steps].join(', ')}`,
      );
      await healthClears();
    });

    test('out of inodes at every step, then pushed again', async (t) => {
      const steps = new Set<string>();
      for (let inodes = 0; inodes <= 60; inodes++) {
        const refused = await scenario(
          `fd/${mode}-i${inodes}`,
          mode,
          () => filler.inodesFree(inodes),
          `i${inodes}-${mode}`,
        );
        if (refused) steps.add(refused);
        else break;
      }
      t.diagnostic(`refused at: ${[...steps].join(', ')}`);
      assert.ok(steps.has('revision link') || steps.has('tag'), `never refused at a link: ${[...steps].join(', ')}`);
      await healthClears();
    });

    test('a blob larger than the free space is refused while streaming, and the session survives', async () => {
      const big = Buffer.alloc(4 * 1024 * 1024, mode.length);
      filler.pages(64);
      const cut = await pushBlob(`fd/${mode}-big`, big, mode);
      assert.ok(cut, 'a 4 MiB blob fit into 256 KiB');
      filler.release();
      await finishOrRestart(`fd/${mode}-big`, big, mode, cut);
      assert.ok((await req(`/v2/fd/${mode}-big/blobs/${sha(big)}`)).body.equals(big));
    });
  });
}

test('every step of the commit path was cut at least once', { skip }, () => {
  const steps = new Set([...cutSteps].map((s) => s.replace(/^\w+: /, '')));
  for (const step of [
    'upload state',
    'upload data',
    'blob rename',
    'layer link',
    'manifest blob',
    'revision link',
    'tag',
  ]) {
    assert.ok(steps.has(step), `no refusal at ${step}; seen: ${[...cutSteps].join('; ')}`);
  }
});

test('the same process served everything', { skip }, () => {
  assert.ok(alive(w.proc.pid!));
  assert.doesNotMatch(w.output(), /TypeError|RangeError|ReferenceError|unexpected error/);
});
