/**
 * What replicas share, from the config: with a `redis` section, upload locks and brute-force counters live in
 * Redis, and so does the blob descriptor cache when `storage.cache.blobdescriptor: redis`. Without it, all of
 * it stays in this process, as for a single replica. The Redis client (ioredis, about 20 MiB) is imported only then.
 */
import type { Logger } from 'pino';
import { MemoryThrottleStore, type ThrottleStore } from '../auth/bruteforce.js';
import type { Config } from '../config/schema.js';
import { InMemoryDescriptorCache, type DescriptorCache } from '../registry/cache.js';
import { LocalUploadLocks, type UploadLocks } from '../registry/locks.js';
import type { TagChanges } from '../registry/tags.js';
import type { RedisConnection } from './connection.js';

export interface SharedState {
  cache: DescriptorCache;
  uploadLocks: UploadLocks;
  bruteForce?: ThrottleStore;
  /** Tag moves and removals told to the other replicas (absent without Redis). */
  tagChanges?: TagChanges;
  /** For the `redis` health check; absent without Redis. */
  redis?: RedisConnection;
  close(): Promise<void>;
}

export async function createSharedState(config: Readonly<Config>, log: Logger): Promise<SharedState> {
  const kind = config.storage.cache.blobdescriptor;
  if (kind !== 'inmemory' && kind !== 'redis')
    log.warn(`storage.cache.blobdescriptor: unknown cache type ${JSON.stringify(kind)}, using inmemory`);
  const inMemory = () => new InMemoryDescriptorCache({ maxEntries: config.storage.cache.blobdescriptorsize });
  if (!config.redis) return { cache: inMemory(), uploadLocks: new LocalUploadLocks(), close: async () => {} };
  const [
    { RedisThrottleStore },
    { RedisConnection },
    { RedisDescriptorCache },
    { RedisUploadLocks },
    { RedisTagChanges },
  ] = await Promise.all([
    import('./bruteforce.js'),
    import('./connection.js'),
    import('./descriptorcache.js'),
    import('./locks.js'),
    import('./tagchanges.js'),
  ]);
  const redis = new RedisConnection(config.redis, log.child({ component: 'redis' }));
  const cache = kind === 'redis' ? new RedisDescriptorCache(redis) : inMemory();
  const tagChanges = new RedisTagChanges(redis, log);
  log.info(
    `redis: upload locks and brute-force counters are shared; blob descriptor cache: ${kind === 'redis' ? 'redis (shared)' : 'in memory (per replica)'}`,
  );
  return {
    cache,
    uploadLocks: new RedisUploadLocks(redis),
    bruteForce: new RedisThrottleStore(redis, new MemoryThrottleStore()),
    tagChanges,
    redis,
    close: async () => {
      tagChanges.close();
      await redis.close();
    },
  };
}
