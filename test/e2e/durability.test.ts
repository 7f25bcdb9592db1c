/**
 * `storage.filesystem.fsync`: with it, every file is flushed before it is renamed into place and its directory
 * after, as Distribution does; without it (the default), nothing is flushed. Watched with strace, which sees the
 * calls of every thread of the real process.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, startSession, withQuery } from './api.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256, startWharf, testConfig, type Wharf } from './harness.js';

function hasStrace(): boolean {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip = hasStrace() ? false : 'strace is not installed (Debian package strace)';

interface Traced {
  w: Wharf;
  log: string;
}

const withFsync = (config: string) =>
  config.replace('    rootdirectory: {{data}}\n', '    rootdirectory: {{data}}\n    fsync: true\n');

/** wharf under `strace -f -y`, tracing flushes and renames, with or without `fsync: true`. */
async function traced(fsync: boolean): Promise<Traced> {
  const log = join(tmpdir(), `wharf-durability-${process.pid}-${fsync ? 'on' : 'off'}.strace`);
  const w = await startWharf({
    config: fsync ? withFsync(testConfig()) : testConfig(),
    wrap: ['strace', '-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync,rename', '-o', log],
  });
  return { w, log };
}

/** Pushes a blob through a session (POST, then PUT with the body) and an image manifest tagged `v1`. */
async function pushImage(w: Wharf): Promise<{ layer: string; manifest: string }> {
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const layer = Buffer.from('durable layer bytes');
  const digests: string[] = [];
  for (const data of [config, layer]) {
    const loc = await startSession(w.url, 'dur/repo');
    const r = await call(w.url, withQuery(loc, 'digest', sha256(data)), {
      method: 'PUT',
      body: new Uint8Array(data),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(r.status, 201, r.text);
    digests.push(sha256(data));
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: digests[0], size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: digests[1], size: layer.length }],
  });
  const r = await call(w.url, '/v2/dur/repo/manifests/v1', {
    method: 'PUT',
    body: manifest,
    headers: { 'Content-Type': OCI_MANIFEST },
  });
  assert.equal(r.status, 201, r.text);
  return { layer: digests[1], manifest: sha256(manifest) };
}

describe('storage.filesystem.fsync', { skip }, () => {
  let on: Traced;
  let off: Traced;
  let pushed: { layer: string; manifest: string };

  before(async () => {
    on = await traced(true);
    off = await traced(false);
    pushed = await pushImage(on.w);
    await pushImage(off.w);
    // strace writes its log as calls return; stopping wharf ends strace and closes the log.
    await on.w.stop();
    await off.w.stop();
  });

  after(async () => {
    for (const t of [on, off]) {
      await t?.w.cleanup();
      if (t) rmSync(t.log, { force: true });
    }
  });

  test('on: a blob is flushed before it is renamed into the blob store, and the store directory after', () => {
    const lines = readFileSync(on.log, 'utf8').split('\n');
    const hex = pushed.layer.slice('sha256:'.length);
    const rename = lines.findIndex(
      (l) => /rename\(.*_uploads\/[0-9a-f-]+\/data", ".*\/blobs\/sha256\/..\//.test(l) && l.includes(hex),
    );
    assert.ok(rename > 0, `no rename of the layer into the blob store in the trace:\n${lines.slice(0, 40).join('\n')}`);
    const uploadData = /rename\("([^"]+)"/.exec(lines[rename])![1];
    const flushedBefore = lines
      .slice(0, rename)
      .some((l) => /^\d+ +f(data)?sync\(\d+</.test(l) && l.includes(`<${uploadData}>`));
    assert.ok(flushedBefore, `the upload's data was not flushed before its rename (${uploadData})`);
    const dirAfter = lines
      .slice(rename + 1)
      .some((l) => /f(data)?sync\(\d+</.test(l) && l.includes(`/blobs/sha256/${hex.slice(0, 2)}/${hex}>`));
    assert.ok(dirAfter, 'the blob directory was not flushed after the rename');
  });

  test('on: the tag link is flushed before it replaces the old one', () => {
    const lines = readFileSync(on.log, 'utf8').split('\n');
    const rename = lines.findIndex((l) => /rename\(".*\/_manifests\/tags\/v1\/current\/link\.tmp-/.test(l));
    assert.ok(rename > 0, 'no rename of the tag link in the trace');
    const tmp = /rename\("([^"]+)"/.exec(lines[rename])![1];
    assert.ok(
      lines.slice(0, rename).some((l) => /f(data)?sync\(\d+</.test(l) && l.includes(`<${tmp}>`)),
      `${tmp} was not flushed before its rename`,
    );
  });

  test('off (the default): nothing is flushed, and the same push is stored', async () => {
    const text = readFileSync(off.log, 'utf8');
    assert.match(text, /rename\(/, 'the trace saw the renames, so it was tracing the right process');
    assert.doesNotMatch(text, /f(data)?sync\(/);
  });

  test('on: what was pushed reads back after a restart', async () => {
    const w = await startWharf({ dir: on.w.dir, config: withFsync(testConfig()) });
    try {
      const r = await call(w.url, '/v2/dur/repo/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('docker-content-digest'), pushed.manifest);
      const b = await call(w.url, `/v2/dur/repo/blobs/${pushed.layer}`);
      assert.equal(b.text, 'durable layer bytes');
    } finally {
      await w.stop();
    }
  });
});
