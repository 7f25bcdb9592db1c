import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InMemoryDescriptorCache } from './cache.js';

test('in-memory descriptor cache: links expire after the TTL, forgetting is immediate, sizes stay', async () => {
  let now = 1000;
  const c = new InMemoryDescriptorCache({ linkTtlMs: 100, now: () => now });
  await c.setLinked('manifest', 'a/b', 'sha256:x');
  await c.setSize('sha256:x', 42);
  assert.equal(await c.linked('manifest', 'a/b', 'sha256:x'), true);
  assert.equal(await c.linked('layer', 'a/b', 'sha256:x'), false, 'kinds are separate');
  now += 101;
  assert.equal(await c.linked('manifest', 'a/b', 'sha256:x'), false, 'expired: re-read from storage');
  assert.equal(await c.size('sha256:x'), 42);
  await c.setLinked('layer', 'a/b', 'sha256:x');
  await c.forgetLink('layer', 'a/b', 'sha256:x');
  assert.equal(await c.linked('layer', 'a/b', 'sha256:x'), false);
});
