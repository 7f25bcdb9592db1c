import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildEvent, manifestReferences, remoteAddr, type EventContext } from './event.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;

const ctx: EventContext = {
  request: { id: 'req-1', addr: '10.0.0.1:5555', host: 'registry.example.com', method: 'PUT', useragent: 'docker/27' },
  actor: 'alice',
  url: (path) => `https://registry.example.com${path}`,
};
const opts = {
  source: { addr: 'node1:5000', instanceID: 'inst-1' },
  includeReferences: false,
  now: () => new Date('2024-05-06T07:08:09.010Z'),
  newId: () => 'evt-1',
};

const image = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D2, size: 10 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D3, size: 20, annotations: { a: 'b' } }],
  subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D1, size: 5 },
};

test('a manifest push carries the whole envelope fields Distribution sends, tag included', () => {
  const e = buildEvent(
    {
      action: 'push',
      kind: 'manifest',
      repository: 'lib/app',
      digest: D1,
      mediaType: image.mediaType,
      size: 321,
      tag: 'v1',
      manifest: image,
    },
    ctx,
    opts,
  );
  assert.deepEqual(e, {
    id: 'evt-1',
    timestamp: '2024-05-06T07:08:09.010Z',
    action: 'push',
    target: {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: D1,
      size: 321,
      length: 321,
      repository: 'lib/app',
      url: `https://registry.example.com/v2/lib/app/manifests/${D1}`,
      tag: 'v1',
    },
    request: {
      id: 'req-1',
      addr: '10.0.0.1:5555',
      host: 'registry.example.com',
      method: 'PUT',
      useragent: 'docker/27',
    },
    actor: { name: 'alice' },
    source: { addr: 'node1:5000', instanceID: 'inst-1' },
  });
});

test("references are added only with events.includereferences: config and layers, or an index's children", () => {
  const input = {
    action: 'pull' as const,
    kind: 'manifest' as const,
    repository: 'a',
    digest: D1,
    mediaType: image.mediaType,
    size: 1,
    manifest: image,
  };
  assert.equal(buildEvent(input, ctx, opts).target.references, undefined);
  const refs = buildEvent(input, ctx, { ...opts, includeReferences: true }).target.references;
  assert.deepEqual(refs, [image.config, image.layers[0]], 'subject is not a reference');
  const index = {
    schemaVersion: 2,
    manifests: [{ mediaType: image.mediaType, digest: D2, size: 3, platform: { os: 'linux', architecture: 'arm64' } }],
  };
  assert.deepEqual(manifestReferences(index), index.manifests);
  assert.deepEqual(manifestReferences(undefined), []);
});

test('blob push, pull and mount: octet-stream media type, blob URL, fromRepository only on mounts', () => {
  const push = buildEvent({ action: 'push', kind: 'blob', repository: 'a', digest: D2, size: 7 }, ctx, opts);
  assert.deepEqual(push.target, {
    mediaType: 'application/octet-stream',
    digest: D2,
    size: 7,
    length: 7,
    repository: 'a',
    url: `https://registry.example.com/v2/a/blobs/${D2}`,
  });
  const mount = buildEvent(
    { action: 'mount', kind: 'blob', repository: 'b', digest: D2, size: 7, fromRepository: 'a' },
    ctx,
    opts,
  );
  assert.equal(mount.action, 'mount');
  assert.equal(mount.target.fromRepository, 'a');
  assert.equal(mount.target.url, `https://registry.example.com/v2/b/blobs/${D2}`);
  const auto = buildEvent({ action: 'mount', kind: 'blob', repository: 'b', digest: D2, size: 7 }, ctx, opts);
  assert.equal('fromRepository' in auto.target, false);
});

test('delete targets hold only what Distribution documents: digest and repository, or repository and tag', () => {
  assert.deepEqual(buildEvent({ action: 'delete', kind: 'manifest', repository: 'a', digest: D1 }, ctx, opts).target, {
    digest: D1,
    repository: 'a',
  });
  assert.deepEqual(buildEvent({ action: 'delete', kind: 'blob', repository: 'a', digest: D2 }, ctx, opts).target, {
    digest: D2,
    repository: 'a',
  });
  assert.deepEqual(buildEvent({ action: 'delete', kind: 'tag', repository: 'a', tag: 'v1' }, ctx, opts).target, {
    repository: 'a',
    tag: 'v1',
  });
});

test('an anonymous request has an empty actor; ids and timestamps are fresh by default', () => {
  const a = buildEvent(
    { action: 'delete', kind: 'tag', repository: 'a', tag: 't' },
    { ...ctx, actor: undefined },
    { source: {}, includeReferences: false },
  );
  const b = buildEvent(
    { action: 'delete', kind: 'tag', repository: 'a', tag: 't' },
    { ...ctx, actor: undefined },
    { source: {}, includeReferences: false },
  );
  assert.deepEqual(a.actor, {});
  assert.notEqual(a.id, b.id);
  assert.match(a.id, /^[0-9a-f-]{36}$/);
  assert.ok(Math.abs(Date.parse(a.timestamp) - Date.now()) < 5000);
});

test('remoteAddr: X-Forwarded-For first entry, then X-Real-IP, then the socket (IPv6 bracketed)', () => {
  assert.equal(
    remoteAddr(
      { 'x-forwarded-for': '1.2.3.4, 5.6.7.8', 'x-real-ip': '9.9.9.9' },
      { remoteAddress: '127.0.0.1', remotePort: 1 },
    ),
    '1.2.3.4',
  );
  assert.equal(remoteAddr({ 'x-real-ip': '9.9.9.9' }, { remoteAddress: '127.0.0.1', remotePort: 1 }), '9.9.9.9');
  assert.equal(remoteAddr({}, { remoteAddress: '127.0.0.1', remotePort: 4242 }), '127.0.0.1:4242');
  assert.equal(remoteAddr({}, { remoteAddress: '::1', remotePort: 4242 }), '[::1]:4242');
  assert.equal(remoteAddr({}, {}), undefined);
});
