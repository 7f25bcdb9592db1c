import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { MT } from '../oci/mediatypes.js';
import { parseDigest, type Digest } from '../oci/names.js';
import { checked } from '../storage/checked.js';
import type { StorageDriver } from '../storage/driver.js';
import { InMemoryDriver } from '../storage/inmemory.js';
import { garbageCollect, type GcOptions } from './gc.js';
import { blobData, blobQuarantine, layerLink, revisionLink } from './paths.js';
import { Registry } from './registry.js';

const HOUR = 3_600_000;

/** The driver under each test registry (Registry keeps its own private). */
const drivers = new WeakMap<Registry, StorageDriver>();
const driverOf = (reg: Registry): StorageDriver => drivers.get(reg)!;

function newRegistry(driver: StorageDriver = checked(new InMemoryDriver())): Registry {
  const reg = new Registry(driver, {
    deleteEnabled: true,
    readOnly: false,
    redirect: false,
    validation: { disabled: false, urls: { allow: [], deny: [] }, indexes: { platforms: 'all', platformlist: [] } },
  });
  drivers.set(reg, driver);
  return reg;
}

function digestOf(data: Buffer | string): Digest {
  return parseDigest(`sha256:${createHash('sha256').update(data).digest('hex')}`)!;
}

async function pushBlob(reg: Registry, name: string, data: string): Promise<Digest> {
  const d = digestOf(data);
  const { uuid } = await reg.uploads.start(name);
  await reg.uploads.complete(
    name,
    uuid,
    d,
    (async function* () {
      yield Buffer.from(data);
    })(),
  );
  return d;
}

async function pushManifest(
  reg: Registry,
  name: string,
  body: unknown,
  mediaType: string,
  tag?: string,
): Promise<Digest> {
  const m = await reg.manifests.put(name, Buffer.from(JSON.stringify(body)), mediaType);
  if (tag) await reg.tags.tag(name, tag, m.digest);
  return m.digest;
}

interface Image {
  digest: Digest;
  blobs: Digest[];
  size: number;
}

async function pushImage(
  reg: Registry,
  name: string,
  seed: string,
  opts: { tag?: string; subject?: Image; arch?: string } = {},
): Promise<Image> {
  const configText = JSON.stringify({ architecture: opts.arch ?? 'amd64', os: 'linux', seed });
  const layerText = `layer-${seed}`;
  const config = await pushBlob(reg, name, configText);
  const layer = await pushBlob(reg, name, layerText);
  const body: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.value, size: configText.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.value, size: layerText.length }],
  };
  if (opts.subject)
    body.subject = { mediaType: MT.ociManifest, digest: opts.subject.digest.value, size: opts.subject.size };
  const bytes = JSON.stringify(body);
  const digest = await pushManifest(reg, name, body, MT.ociManifest, opts.tag);
  return { digest, blobs: [config, layer], size: bytes.length };
}

async function pushIndex(reg: Registry, name: string, children: Image[], tag?: string): Promise<Image> {
  const body = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: children.map((c, i) => ({
      mediaType: MT.ociManifest,
      digest: c.digest.value,
      size: c.size,
      platform: { architecture: `arch${i}`, os: 'linux' },
    })),
  };
  const digest = await pushManifest(reg, name, body, MT.ociIndex, tag);
  return { digest, blobs: [], size: JSON.stringify(body).length };
}

/** Every file under the driver's root, sorted. */
async function allFiles(driver: StorageDriver, dir = '/'): Promise<string[]> {
  const out: string[] = [];
  for (const p of await driver.list(dir)) {
    if ((await driver.stat(p)).isDir) out.push(...(await allFiles(driver, p)));
    else out.push(p);
  }
  return out.sort();
}

async function exists(driver: StorageDriver, path: string): Promise<boolean> {
  return driver.stat(path).then(
    () => true,
    () => false,
  );
}

/** Fails unless the image's manifest is linked and every blob it references is in the store and linked in `name`. */
async function assertComplete(reg: Registry, name: string, img: Image): Promise<void> {
  assert.ok(await reg.manifests.isLinked(name, img.digest, true), `${name}@${img.digest.value} is linked`);
  assert.ok(await exists(driverOf(reg), blobData(img.digest)), `manifest blob ${img.digest.value} exists`);
  for (const b of img.blobs) {
    assert.ok(await exists(driverOf(reg), blobData(b)), `blob ${b.value} exists`);
    assert.ok(await reg.blobs.isLinked(name, b, true), `blob ${b.value} linked in ${name}`);
  }
}

async function assertGone(reg: Registry, d: Digest): Promise<void> {
  assert.equal(await exists(driverOf(reg), blobData(d)), false, `blob ${d.value} removed`);
  assert.equal(await exists(driverOf(reg), blobQuarantine(d)), false, `no parked copy of ${d.value}`);
}

/** Everything already stored counts as older than the grace period. */
const aged = (extra: GcOptions = {}): GcOptions => ({ now: Date.now() + 2 * HOUR, settleMs: 0, ...extra });

describe('garbage collection: mark and sweep', () => {
  test('removes unreferenced blobs and their _layers links, keeps every linked manifest (tagged or not) complete', async () => {
    const reg = newRegistry();
    const tagged = await pushImage(reg, 'app', 'one', { tag: 'v1' });
    const untagged = await pushImage(reg, 'app', 'two');
    const orphan = await pushBlob(reg, 'app', 'orphan');
    const orphanElsewhere = await pushBlob(reg, 'other', 'orphan');
    assert.equal(orphan.value, orphanElsewhere.value);

    const r = await garbageCollect(driverOf(reg), aged());
    assert.deepEqual(
      r.blobsRemoved,
      [{ digest: orphan.value, size: 'orphan'.length, repositories: ['app', 'other'] }],
      'with the repositories it was linked into',
    );
    assert.equal(r.bytesFreed, 'orphan'.length);
    assert.equal(r.layerLinksRemoved, 2);
    assert.deepEqual(r.manifestsRemoved, []);
    assert.equal(r.dryRun, false);
    await assertGone(reg, orphan);
    assert.equal(await exists(driverOf(reg), layerLink('app', orphan)), false);
    assert.equal(await exists(driverOf(reg), layerLink('other', orphan)), false);
    await assertComplete(reg, 'app', tagged);
    await assertComplete(reg, 'app', untagged);
    assert.deepEqual(await reg.repositories(), ['app']);

    const again = await garbageCollect(driverOf(reg), aged());
    assert.equal(again.blobsRemoved.length, 0, 'a second run finds nothing');
  });

  test('a blob shared by two repositories stays while one manifest references it', async () => {
    const reg = newRegistry();
    const a = await pushImage(reg, 'a', 'shared', { tag: 'v1' });
    const b = await pushImage(reg, 'b', 'shared');
    await reg.manifests.delete('b', b.digest);
    const r = await garbageCollect(driverOf(reg), aged());
    assert.deepEqual(r.blobsRemoved, []);
    await assertComplete(reg, 'a', a);
    assert.deepEqual(await reg.repositories(), ['a'], 'b has no manifest left: it leaves the catalog');
    assert.equal(await reg.tags.all('b'), null);
  });

  test('dry run reports exactly what the real run removes and changes nothing', async () => {
    const reg = newRegistry();
    await pushImage(reg, 'app', 'kept', { tag: 'v1' });
    await pushImage(reg, 'app', 'untagged');
    await pushImage(reg, 'gone', 'only-untagged');
    await pushBlob(reg, 'app', 'orphan');
    const before = await allFiles(driverOf(reg));
    const dry = await garbageCollect(driverOf(reg), aged({ dryRun: true, deleteUntagged: true }));
    assert.deepEqual(await allFiles(driverOf(reg)), before, 'nothing changed');
    assert.equal(dry.dryRun, true);
    assert.equal(dry.manifestsRemoved.length, 2);
    const real = await garbageCollect(driverOf(reg), aged({ deleteUntagged: true }));
    assert.deepEqual(real.manifestsRemoved, dry.manifestsRemoved);
    assert.deepEqual(real.blobsRemoved, dry.blobsRemoved);
    assert.equal(real.bytesFreed, dry.bytesFreed);
    assert.equal(real.layerLinksRemoved, dry.layerLinksRemoved);
    assert.deepEqual(real.repositoriesRemoved, dry.repositoriesRemoved);
    assert.deepEqual(real.repositoriesRemoved, ['gone']);
    assert.equal(real.blobsRemoved.length, 2 * 3 + 1, 'two manifests with config and layer each, and the orphan');
  });
});

describe('garbage collection: --delete-untagged', () => {
  test('keeps a tagged multi-platform index and its children transitively; removes other untagged manifests', async () => {
    const reg = newRegistry();
    const amd = await pushImage(reg, 'multi', 'amd64', { arch: 'amd64' });
    const arm = await pushImage(reg, 'multi', 'arm64', { arch: 'arm64' });
    const inner = await pushIndex(reg, 'multi', [arm]);
    const outer = await pushIndex(reg, 'multi', [amd, inner], 'latest');
    const stale = await pushImage(reg, 'multi', 'stale');
    const staleIndex = await pushIndex(reg, 'multi', [stale]);

    const r = await garbageCollect(driverOf(reg), aged({ deleteUntagged: true }));
    assert.deepEqual(
      r.manifestsRemoved.map((m) => m.digest).sort(),
      [stale.digest.value, staleIndex.digest.value].sort(),
    );
    assert.ok(r.manifestsRemoved.every((m) => m.repository === 'multi'));
    for (const img of [amd, arm, inner, outer]) await assertComplete(reg, 'multi', img);
    for (const d of [stale.digest, staleIndex.digest, ...stale.blobs]) await assertGone(reg, d);
    assert.equal(await exists(driverOf(reg), revisionLink('multi', stale.digest)), false);
    assert.deepEqual(await reg.repositories(), ['multi']);
  });

  test('keeps referrers of kept manifests (transitively), removes referrers of removed ones', async () => {
    const reg = newRegistry();
    const image = await pushImage(reg, 'signed', 'image', { tag: 'v1' });
    const sig = await pushImage(reg, 'signed', 'signature', { subject: image });
    const sigOfSig = await pushImage(reg, 'signed', 'countersignature', { subject: sig });
    const old = await pushImage(reg, 'signed', 'old');
    const oldSig = await pushImage(reg, 'signed', 'old-signature', { subject: old });

    const r = await garbageCollect(driverOf(reg), aged({ deleteUntagged: true }));
    assert.deepEqual(r.manifestsRemoved.map((m) => m.digest).sort(), [old.digest.value, oldSig.digest.value].sort());
    for (const img of [image, sig, sigOfSig]) await assertComplete(reg, 'signed', img);
    assert.deepEqual(
      (await reg.manifests.referrers('signed', image.digest)).map((d) => d.digest),
      [sig.digest.value],
    );
    assert.deepEqual(await reg.manifests.referrers('signed', old.digest), []);
  });

  test('without --delete-untagged no manifest is removed', async () => {
    const reg = newRegistry();
    const u = await pushImage(reg, 'x', 'untagged');
    const r = await garbageCollect(driverOf(reg), aged());
    assert.deepEqual(r.manifestsRemoved, []);
    await assertComplete(reg, 'x', u);
  });

  test('an emptied repository leaves the catalog; a nested repository under it stays', async () => {
    const reg = newRegistry();
    await pushImage(reg, 'team', 'untagged');
    const nested = await pushImage(reg, 'team/app', 'nested', { tag: 'v1' });
    const r = await garbageCollect(driverOf(reg), aged({ deleteUntagged: true }));
    assert.deepEqual(r.repositoriesRemoved, ['team']);
    assert.deepEqual(await reg.repositories(), ['team/app']);
    assert.equal(await reg.tags.all('team'), null);
    await assertComplete(reg, 'team/app', nested);
  });
});

describe('garbage collection: grace period', () => {
  test('nothing younger than the grace period (default 1 hour) is collected', async () => {
    const reg = newRegistry();
    await pushImage(reg, 'young', 'untagged');
    await pushBlob(reg, 'young', 'orphan');
    const r = await garbageCollect(driverOf(reg), { deleteUntagged: true, settleMs: 0 });
    assert.deepEqual(r.manifestsRemoved, []);
    assert.deepEqual(r.blobsRemoved, []);
    assert.deepEqual(r.repositoriesRemoved, []);
  });

  test('an old blob linked again after the cutoff, and a manifest pushed after it, are kept', async () => {
    const reg = newRegistry();
    const oldOrphan = await pushBlob(reg, 'a', 'reused');
    const plainOrphan = await pushBlob(reg, 'a', 'plain');
    await new Promise((r) => setTimeout(r, 20));
    const cutoff = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    await pushBlob(reg, 'b', 'reused'); // already in the store: only a fresh _layers link in b
    const fresh = await pushImage(reg, 'c', 'fresh');
    const r = await garbageCollect(driverOf(reg), { now: cutoff, graceMs: 0, deleteUntagged: true, settleMs: 0 });
    assert.deepEqual(
      r.blobsRemoved.map((b) => b.digest),
      [plainOrphan.value],
    );
    assert.ok(await exists(driverOf(reg), blobData(oldOrphan)));
    assert.ok(await exists(driverOf(reg), layerLink('b', oldOrphan)));
    await assertComplete(reg, 'c', fresh);
  });
});

describe('garbage collection: concurrent pushes', () => {
  /** A driver that runs `onPark` once, right after GC parks the blob `target`. */
  function parkHook(inner: StorageDriver, target: Digest, onPark: () => Promise<void>): StorageDriver {
    let fired = false;
    return {
      ...inner,
      async move(src, dst) {
        await inner.move(src, dst);
        if (!fired && dst === blobQuarantine(target)) {
          fired = true;
          await onPark();
        }
      },
    };
  }

  test('a blob linked by an upload that saw it just before it was parked is put back', async () => {
    const base = checked(new InMemoryDriver());
    const reg = newRegistry(base);
    const blob = await pushBlob(reg, 'a', 'contended');
    await new Promise((r) => setTimeout(r, 20));
    const driver = parkHook(base, blob, () => reg.blobs.link('b', blob));
    const r = await garbageCollect(driver, { now: Date.now(), graceMs: 0, settleMs: 0 });
    assert.deepEqual(r.blobsRemoved, []);
    assert.equal(r.restored, 1);
    assert.ok(await exists(base, blobData(blob)));
    assert.equal(await exists(base, blobQuarantine(blob)), false);
  });

  test('a blob referenced by a manifest whose revision link lands after the parking is put back', async () => {
    const base = checked(new InMemoryDriver());
    const reg = newRegistry(base);
    const img = await pushImage(reg, 'a', 'late');
    await reg.manifests.delete('a', img.digest);
    // The manifest put validated before the parking and writes its revision link right after it.
    const driver = parkHook(base, img.blobs[1], () =>
      base.putContent(revisionLink('a', img.digest), Buffer.from(img.digest.value)),
    );
    const r = await garbageCollect(driver, aged());
    assert.deepEqual(r.blobsRemoved, []);
    assert.equal(r.restored, 3);
    await assertComplete(reg, 'a', img);
  });

  test('an untagged manifest tagged while parked is put back', async () => {
    const base = checked(new InMemoryDriver());
    const reg = newRegistry(base);
    const img = await pushImage(reg, 'a', 'tagged-late');
    const driver = parkHook(base, img.blobs[0], () => reg.tags.tag('a', 'late', img.digest));
    const r = await garbageCollect(driver, aged({ deleteUntagged: true }));
    assert.deepEqual(r.manifestsRemoved, []);
    assert.deepEqual(r.blobsRemoved, []);
    await assertComplete(reg, 'a', img);
    assert.deepEqual(await reg.repositories(), ['a']);
  });

  test('a run interrupted after parking is repaired by the next one', async () => {
    const reg = newRegistry();
    const img = await pushImage(reg, 'a', 'interrupted', { tag: 'v1' });
    await driverOf(reg).move(blobData(img.blobs[0]), blobQuarantine(img.blobs[0]));
    await driverOf(reg).move(
      revisionLink('a', img.digest),
      `${revisionLink('a', img.digest).replace(/link$/, 'gc-quarantine')}`,
    );
    const dry = await garbageCollect(driverOf(reg), aged({ dryRun: true }));
    assert.deepEqual(dry.blobsRemoved, [], 'a dry run neither repairs nor removes');
    const r = await garbageCollect(driverOf(reg), aged());
    assert.deepEqual(r.blobsRemoved, []);
    await assertComplete(reg, 'a', img);
  });

  test('the server refuses a manifest whose blob GC removed, even when its cache remembers the blob', async () => {
    const base = checked(new InMemoryDriver());
    const server = newRegistry(base);
    const img = await pushImage(server, 'a', 'cached');
    await server.manifests.delete('a', img.digest);
    assert.ok((await server.blobs.stat('a', img.blobs[1])).size > 0, 'now in the server cache');
    await garbageCollect(base, aged());
    await assertGone(server, img.blobs[1]);
    const body = JSON.parse((await base.getContent(blobData(img.digest)).catch(() => null))?.toString() ?? 'null');
    assert.equal(body, null, 'manifest blob collected too');
    const again = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: img.blobs[0].value, size: 1 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: img.blobs[1].value, size: 1 }],
    };
    await assert.rejects(() => pushManifest(server, 'a', again, MT.ociManifest, 'v1'), /manifest verification failed/);
  });
});

describe('garbage collection: digest algorithms', () => {
  test('a tag whose link names a sha384 revision keeps that manifest, its blobs and its repository', async () => {
    const reg = newRegistry();
    const config = await pushBlob(reg, 'alg/384', 'config-384');
    const layer = await pushBlob(reg, 'alg/384', 'layer-384');
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.value, size: 10 },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.value, size: 9 }],
      }),
    );
    const d384 = parseDigest(`sha384:${createHash('sha384').update(body).digest('hex')}`)!;
    const m = await reg.manifests.put('alg/384', body, MT.ociManifest, d384);
    await reg.tags.tag('alg/384', 'v1', m.digest);
    const r = await garbageCollect(driverOf(reg), aged({ deleteUntagged: true }));
    assert.deepEqual(r.manifestsRemoved, []);
    assert.deepEqual(r.blobsRemoved, []);
    assert.deepEqual(r.repositoriesRemoved, []);
    assert.ok(await reg.manifests.isLinked('alg/384', d384, true));
    for (const b of [config, layer, d384]) assert.notEqual(await reg.blobs.globalSize(b, true), null);
  });

  test('a kept manifest that does not parse makes the run remove nothing', async () => {
    const reg = newRegistry();
    const kept = await pushImage(reg, 'alg/blind', 'kept', { tag: 'v1' });
    const orphan = await pushBlob(reg, 'alg/blind', 'an orphan');
    // A revision whose blob is not a manifest (or one nested beyond the limit, stored by an older version).
    const junk = Buffer.from('['.repeat(100) + ']'.repeat(100));
    const d = digestOf(junk);
    await driverOf(reg).putContent(blobData(d), junk);
    await driverOf(reg).putContent(revisionLink('alg/blind', d), Buffer.from(d.value));
    // Without --delete-untagged every revision is kept, this one too (with it, the untagged junk would just go).
    const r = await garbageCollect(driverOf(reg), aged());
    assert.deepEqual(r.blobsRemoved, []);
    assert.deepEqual(r.manifestsRemoved, []);
    assert.match(r.warnings.join('\n'), /nothing was removed/);
    for (const b of [...kept.blobs, orphan]) assert.notEqual(await reg.blobs.globalSize(b, true), null);
  });
});
