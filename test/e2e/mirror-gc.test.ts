/**
 * `wharf garbage-collect` on a mirror's data directory expires cached content as the server's expiry does, so an
 * operator's cron run behaves like `wharf serve`: a mirror serving with `expire: 0` caches images under three
 * prefixes; the collection is run with a config whose `short/*` expires after a second. `short`'s tags and
 * manifests go, its own layer goes, the layer it shares with `long` stays; a dead upstream's content is kept.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call } from './api.js';
import { MAIN, startWharf, type Wharf } from './harness.js';
import { countingProxy, getManifest, pushImage, sha256, startMirror, type CountingProxy } from './mirror-helpers.js';
import { sleep } from './ops.js';

function gc(config: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  const proc = spawn(process.execPath, [MAIN, 'garbage-collect', '--grace', '0s', ...args, config], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('garbage-collect on a mirror expires cached content', () => {
  let up: Wharf;
  let mirror: Wharf;
  let shared: Awaited<ReturnType<typeof pushImage>>;
  let own: Awaited<ReturnType<typeof pushImage>>;
  let cron: string;
  let gone: CountingProxy;

  before(async () => {
    up = await startWharf();
    shared = await pushImage(up.url, 'team/app', 'v1', Buffer.from('a layer both caches share '.repeat(300)), 'shared');
    own = await pushImage(up.url, 'team/solo', 'v1', Buffer.from('a layer only short caches '.repeat(300)), 'solo');
    gone = await countingProxy(up.url);
    const dead = gone.url;
    const section = (expire: string) =>
      `proxy:\n  upstreams:\n    - { prefix: short, remoteurl: ${up.url}, ttl: 1h, expire: ${expire} }\n    - { prefix: long, remoteurl: ${up.url}, ttl: 1h, expire: 1h }\n    - { prefix: gone, remoteurl: ${dead}, ttl: 1h, expire: ${expire}, timeout: 2s }\n`;
    mirror = await startMirror(section('0'));
    // The server never expires `short`; the cron's config says one second.
    cron = join(mirror.dir, 'cron.yml');
    writeFileSync(cron, readFileSync(join(mirror.dir, 'config.yml'), 'utf8').replace(section('0'), section('1s')));
    assert.notEqual(readFileSync(cron, 'utf8'), readFileSync(join(mirror.dir, 'config.yml'), 'utf8'));
  });

  after(async () => {
    await mirror?.cleanup();
    await gone?.close();
    await up?.cleanup();
  });

  test('expired manifests go through the safe GC; shared layers and a dead upstream’s content stay', async () => {
    for (const [repo, img] of [
      ['short/team/app', shared],
      ['long/team/app', shared],
      ['short/team/solo', own],
      ['gone/team/solo', own],
    ] as const) {
      assert.equal((await getManifest(mirror.url, repo, 'v1')).digest, img.manifest);
      assert.equal(sha256((await call(mirror.url, `/v2/${repo}/blobs/${img.layer}`)).body), img.layer);
    }
    // `gone` was cached while its upstream lived; now it is dead.
    gone.mode = 'down';
    await sleep(1500);

    const dry = await gc(cron, '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^would expire cached tag short\/team\/app:v1$/m);
    assert.match(dry.stdout, new RegExp(`^would expire cached manifest short/team/solo@${own.manifest}$`, 'm'));
    assert.equal((await getManifest(mirror.url, 'short/team/solo', 'v1')).status, 200, 'the dry run changed something');

    const run = await gc(cron);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^expired cached tag short\/team\/app:v1$/m);
    assert.match(run.stdout, new RegExp(`^expired cached manifest short/team/app@${shared.manifest}$`, 'm'));
    assert.doesNotMatch(run.stdout, new RegExp(`removed blob ${shared.layer}`));
    assert.match(run.stderr, /warning: upstream gone does not answer: its cached content is kept/);

    const cat = JSON.parse((await call(mirror.url, '/v2/_catalog')).text) as { repositories: string[] };
    assert.deepEqual(cat.repositories, ['gone/team/solo', 'long/team/app']);
    assert.equal(
      (await getManifest(mirror.url, 'gone/team/solo', 'v1')).digest,
      own.manifest,
      'the cached copy of a dead upstream was expired',
    );
    // The shared layer still serves `long` (from the cache: the blob file is still there).
    assert.equal(sha256((await call(mirror.url, `/v2/long/team/app/blobs/${shared.layer}`)).body), shared.layer);
    // A second run finds nothing more to expire.
    const again = await gc(cron);
    assert.doesNotMatch(again.stdout, /expired cached/);
  });
});
