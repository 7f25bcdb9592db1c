/**
 * The one-writer-per-upload lock shared by replicas: `SET wharf:upload:<uuid> <token> NX PX <ttl>`, renewed
 * while the request runs, released only by its holder (compare-and-delete in Lua). A replica that dies holding
 * it frees it after `ttlMs`. With Redis unavailable, only the per-process lock applies (logged by the connection).
 */
import { randomBytes } from 'node:crypto';
import { LocalUploadLocks, type UploadLocks } from '../registry/locks.js';
import type { RedisConnection } from './connection.js';
import { keepOwned } from './owned.js';

export class RedisUploadLocks implements UploadLocks {
  private readonly local = new LocalUploadLocks();

  constructor(
    private readonly redis: RedisConnection,
    private readonly ttlMs = 30_000,
  ) {}

  async acquire(uuid: string): Promise<(() => Promise<void>) | null> {
    const releaseLocal = await this.local.acquire(uuid);
    if (!releaseLocal) return null;
    const key = `wharf:upload:${uuid}`;
    const token = randomBytes(16).toString('hex');
    const got = await this.redis.run((c) => c.set(key, token, 'PX', this.ttlMs, 'NX'));
    if (got === null) {
      await releaseLocal();
      return null;
    }
    // Undefined (Redis unavailable): only the per-process lock holds.
    const releaseShared = got === 'OK' ? keepOwned(this.redis, key, token, this.ttlMs) : null;
    return async () => {
      await releaseShared?.();
      await releaseLocal();
    };
  }
}
