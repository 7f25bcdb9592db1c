/**
 * A key owned by one holder: set to the holder's token with an expiry, renewed and deleted only while it still holds
 * that token (compare-and-renew, compare-and-delete in Lua), so a holder whose key expired and was taken by another
 * never renews or deletes the other's. Used by the upload locks, the cleanup lease and the mirror's download board.
 */
import type { RedisConnection } from './connection.js';

export const DELETE_IF_OWNED =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
export const RENEW_IF_OWNED =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/**
 * Renews `key` (holding `token`) every third of `ttlMs` until the returned function is called, which also deletes
 * it if still owned.
 */
export function keepOwned(redis: RedisConnection, key: string, token: string, ttlMs: number): () => Promise<void> {
  const renew = setInterval(() => void redis.run((c) => c.eval(RENEW_IF_OWNED, 1, key, token, ttlMs)), ttlMs / 3);
  renew.unref();
  return async () => {
    clearInterval(renew);
    await redis.run((c) => c.eval(DELETE_IF_OWNED, 1, key, token));
  };
}
