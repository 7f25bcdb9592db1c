/** Read-only and delete-disabled are enforced by the client-facing stores; the upkeep stores are not bound by them. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { MT } from '../oci/mediatypes.js';
import { parseDigest, type Digest } from '../oci/names.js';
import { checked } from '../storage/checked.js';
import { InMemoryDriver } from '../storage/inmemory.js';
import { Registry } from './registry.js';

const validation = {
  disabled: false,
  urls: { allow: [], deny: [] },
  indexes: { platforms: 'all' as const, platformlist: [] },
};
const sha = (b: Buffer) => parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`)!;
const unsupported = (message?: RegExp) => (err: unknown) =>
  (err as { code?: string }).code === 'UNSUPPORTED' && (!message || message.test((err as Error).message));

/** A registry over one driver with an image pushed as `app:v1`, and registries over the same driver with other options. */
async function fixture() {
  const driver = checked(new InMemoryDriver());
  const open = (o: { readOnly: boolean; deleteEnabled: boolean }) =>
    new Registry(driver, { ...o, redirect: false, validation });
  const rw = open({ readOnly: false, deleteEnabled: true });
  const config = Buffer.from('{}');
  const cd = sha(config);
  const { uuid } = await rw.uploads.start('app');
  await rw.uploads.complete(
    'app',
    uuid,
    cd,
    (async function* () {
      yield config;
    })(),
  );
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd.value, size: 2 },
      layers: [],
    }),
  );
  const m = await rw.manifests.put('app', body, MT.ociManifest);
  await rw.tags.tag('app', 'v1', m.digest);
  return { open, body, config: cd, manifest: m.digest as Digest };
}

test('read-only: every client write is refused by the stores (UNSUPPORTED, read-only message); upkeep still writes', async () => {
  const { open, body, config, manifest } = await fixture();
  const ro = open({ readOnly: true, deleteEnabled: true });
  const readOnly = unsupported(/read-only/);
  await assert.rejects(ro.uploads.start('app'), readOnly);
  await assert.rejects(ro.manifests.put('app', body, MT.ociManifest), readOnly);
  await assert.rejects(ro.tags.tag('app', 'v2', manifest), readOnly);
  await assert.rejects(ro.blobs.link('other', config), readOnly);
  await assert.rejects(ro.tags.untag('app', 'v1'), readOnly);
  await assert.rejects(ro.manifests.delete('app', manifest), readOnly);
  await assert.rejects(ro.blobs.unlink('app', config), readOnly);
  assert.equal((await ro.tags.get('app', 'v1')).value, manifest.value, 'reads work');
  await ro.upkeep.tags.tag('app', 'cached', manifest);
  assert.equal((await ro.tags.get('app', 'cached')).value, manifest.value);
});

test('delete disabled: deletes are refused by the stores (UNSUPPORTED); writes and upkeep deletes work', async () => {
  const { open, manifest, config } = await fixture();
  const nd = open({ readOnly: false, deleteEnabled: false });
  await assert.rejects(nd.tags.untag('app', 'v1'), unsupported());
  await assert.rejects(nd.manifests.delete('app', manifest), unsupported());
  await assert.rejects(nd.blobs.unlink('app', config), unsupported());
  await nd.tags.tag('app', 'v2', manifest);
  await nd.upkeep.tags.untag('app', 'v2');
  await assert.rejects(
    nd.tags.get('app', 'v2'),
    (err: unknown) => (err as { code?: string }).code === 'MANIFEST_UNKNOWN',
  );
  assert.equal(
    await nd.upkeep.tags.untagIfUnchanged('app', 'v1', manifest.value, 0),
    false,
    'a tag written at another time stays',
  );
  const pushedAt = (await nd.tags.pushedAt('app', 'v1'))!.getTime();
  assert.equal(await nd.upkeep.tags.untagIfUnchanged('app', 'v1', manifest.value, pushedAt), true);
  await nd.upkeep.manifests.delete('app', manifest);
  assert.equal(await nd.manifests.isLinked('app', manifest, true), false);
});
