/**
 * What replicas share, from the config: with a `redis` section, upload locks and brute-force counters live in
 * Redis, and so does the blob descriptor cache when `storage.cache.blobdescriptor: redis`. Without it, all of
 * it stays in this process, as for a single replica.
 */
import type { Logger } from 'pino';
import { MemoryThrottleStore, type ThrottleStore } from '../auth/bruteforce.js';
import type { Config } from '../config/schema.js';
import { InMemoryDescriptorCache, type DescriptorCache } from '../registry/cache.js';
import { LocalUploadLocks, type UploadLocks } from '../registry/locks.js';
import { RedisThrottleStore } from './bruteforce.js';
import { RedisConnection } from './connection.js';
import { RedisDescriptorCache } from './descriptorcache.js';
import { RedisUploadLocks } from './locks.js';

export interface SharedState {
  cache: DescriptorCache;
  uploadLocks: UploadLocks;
  bruteForce?: ThrottleStore;
  /** For the `redis` health check; absent without Redis. */
  redis?: RedisConnection;
  close(): Promise<void>;
}

export function createSharedState(config: Readonly<Config>, log: Logger): SharedState {
  const kind = config.storage.cache.blobdescriptor;
  if (kind !== 'inmemory' && kind !== 'redis') log.warn(`storage.cache.blobdescriptor: unknown cache type ${JSON.stringify(kind)}, using inmemory`);
  const inMemory = () => new InMemoryDescriptorCache({ maxEntries: config.storage.cache.blobdescriptorsize });
  if (!config.redis) return { cache: inMemory(), uploadLocks: new LocalUploadLocks(), close: async () => {} };
  const redis = new RedisConnection(config.redis, log.child({ component: 'redis' }));
  const cache = kind === 'redis' ? new RedisDescriptorCache(redis) : inMemory();
  log.info(`redis: upload locks and brute-force counters are shared; blob descriptor cache: ${kind === 'redis' ? 'redis (shared)' : 'in memory (per replica)'}`);
  return {
    cache,
    uploadLocks: new RedisUploadLocks(redis),
    bruteForce: new RedisThrottleStore(redis, new MemoryThrottleStore()),
    redis,
    close: () => redis.close(),
  };
}
