/**
 * Brute-force counters shared by replicas, so failures on one count on all. Per key (a user or an address):
 * a sorted set of failure times within the window, and a block key that expires when the block ends. Both
 * carry the key in a hash tag, so each script touches one Cluster slot. With Redis unavailable, counting goes
 * on in this process (and a block decided there still applies once Redis is back).
 */
import { randomBytes } from 'node:crypto';
import { MemoryBruteForceStore, type BruteForceLimits, type BruteForceStore } from '../auth/bruteforce.js';
import type { RedisConnection } from './connection.js';

const FAIL = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], tonumber(ARGV[1]) + tonumber(ARGV[4]), 'PX', ARGV[4])
  redis.call('DEL', KEYS[1])
end
return 1`;
const CLEAR = "if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('DEL', KEYS[1]) end return 1";

export class RedisBruteForceStore implements BruteForceStore {
  constructor(private readonly redis: RedisConnection, private readonly local: MemoryBruteForceStore) {}

  private keys(key: string): [string, string] {
    const tag = `{${encodeURIComponent(key)}}`;
    return [`wharf:bf:${tag}:failures`, `wharf:bf:${tag}:blocked`];
  }

  async blockedUntil(key: string, now: number): Promise<number> {
    const local = await this.local.blockedUntil(key, now);
    const v = await this.redis.run((c) => c.get(this.keys(key)[1]));
    return Math.max(local, v ? Number(v) || 0 : 0);
  }

  async fail(key: string, now: number, limits: BruteForceLimits): Promise<void> {
    const [failures, blocked] = this.keys(key);
    const member = `${now}-${randomBytes(4).toString('hex')}`;
    const done = await this.redis.run((c) => c.eval(FAIL, 2, failures, blocked, now, limits.windowMs, limits.maxFailures, limits.blockMs, member));
    if (done === undefined) await this.local.fail(key, now, limits);
  }

  async clear(key: string, now: number): Promise<void> {
    await this.local.clear(key, now);
    await this.redis.run((c) => c.eval(CLEAR, 2, ...this.keys(key)));
  }
}
