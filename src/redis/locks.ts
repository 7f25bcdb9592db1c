/**
 * The one-writer-per-upload lock shared by replicas: `SET wharf:upload:<uuid> <token> NX PX <ttl>`, renewed
 * while the request runs, released only by its holder (compare-and-delete in Lua). A replica that dies holding
 * it frees it after `ttlMs`. With Redis unavailable, only the per-process lock applies (logged by the connection).
 */
import { randomBytes } from 'node:crypto';
import { LocalUploadLocks, type UploadLocks } from '../registry/locks.js';
import type { RedisConnection } from './connection.js';

const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
const RENEW =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

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
    const held = got === 'OK';
    const renew = held
      ? setInterval(() => void this.redis.run((c) => c.eval(RENEW, 1, key, token, this.ttlMs)), this.ttlMs / 3)
      : null;
    renew?.unref();
    return async () => {
      if (renew) clearInterval(renew);
      if (held) await this.redis.run((c) => c.eval(RELEASE, 1, key, token));
      await releaseLocal();
    };
  }
}
