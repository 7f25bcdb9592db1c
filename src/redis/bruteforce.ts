/**
 * Login throttling counters shared by replicas (the contract is in src/auth/bruteforce.ts; this is the same
 * arithmetic in Lua, so that each step is atomic). Per address, in one Cluster slot (hash tag = the address):
 * the address counter, one counter per user name tried from it, and the recently failed password hashes (a
 * sorted set scored by expiry, capped). Per user name, in its own slot: the user-wide count. Every key expires
 * `window` after its last failure or the end of its throttle, whichever is later.
 *
 * A failure is three small scripts (dedup, user-wide count, address and pair counts): they run only after a
 * bcrypt that failed, so the round trips do not matter; the check on every request is one script. With Redis
 * unavailable, counting goes on in this process, and throttles decided there still apply once Redis is back.
 */
import type {
  FailResult,
  MemoryThrottleStore,
  Throttle,
  ThrottlePolicy,
  ThrottleReason,
  ThrottleStore,
} from '../auth/bruteforce.js';
import type { RedisConnection } from './connection.js';

/** Failed-password hashes remembered per address (the oldest go first beyond it). */
const SEEN_CAP = 256;

/** KEYS: seen. ARGV: hash, now, window, cap. 1 when the hash is new (count it), 0 when it was seen. */
const SEEN = `
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
if redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[4]) then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if old then return 0 end
return 1`;

/** KEYS: user. ARGV: window. The user-wide count after this failure. */
const USER = `
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n`;

/**
 * KEYS: address, pair. ARGV: now, window, pair limit, address limit, initial, max, user-wide reached (1/0).
 * Counts one failure on both; returns the throttles it started (as backoffMs() and MemoryThrottleStore do).
 */
const COUNT = `
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local function delay(n, limit)
  if limit <= 0 or n < limit then return 0 end
  return math.min(tonumber(ARGV[6]), tonumber(ARGV[5]) * 2 ^ math.min(n - limit, 60))
end
local started = {}
local an = redis.call('HINCRBY', KEYS[1], 'n', 1)
local au = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
local ad = delay(an, tonumber(ARGV[4]))
if ad > 0 then
  if au == 0 then table.insert(started, 'address') end
  au = math.max(au, math.floor(now + ad))
  redis.call('HSET', KEYS[1], 'until', string.format('%d', au))
end
redis.call('PEXPIREAT', KEYS[1], string.format('%d', math.max(now, au) + win))
local pn = redis.call('HINCRBY', KEYS[2], 'n', 1)
local pu = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
local pd = delay(pn, tonumber(ARGV[3]))
local ud = 0
if ARGV[7] == '1' then ud = delay(pn, 1) end
if pd > 0 or ud > 0 then
  local reason = 'pair'
  if ud > pd then reason = 'user' end
  if pu == 0 then table.insert(started, reason) end
  pu = math.max(pu, math.floor(now + math.max(pd, ud)))
  redis.call('HSET', KEYS[2], 'until', string.format('%d', pu), 'reason', reason)
end
redis.call('PEXPIREAT', KEYS[2], string.format('%d', math.max(now, pu) + win))
return started`;

/** KEYS: address, pair. The two throttle ends (as strings) and the pair's reason. */
const CHECK = `
local a = redis.call('HGET', KEYS[1], 'until')
local p = redis.call('HMGET', KEYS[2], 'until', 'reason')
return {a or '0', p[1] or '0', p[2] or 'pair'}`;

/** KEYS: address, pair. Forgets the pair; takes its count off the address. Returns the pair's count. */
const SUCCEED = `
local n = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
redis.call('DEL', KEYS[2])
if n > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HINCRBY', KEYS[1], 'n', -n) < 0 then redis.call('HSET', KEYS[1], 'n', 0) end
end
return n`;

/** KEYS: user. ARGV: count to take off. */
const FORGIVE = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HINCRBY', KEYS[1], 'n', -tonumber(ARGV[1])) < 0 then redis.call('HSET', KEYS[1], 'n', 0) end
end
return 1`;

export class RedisThrottleStore implements ThrottleStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly local: MemoryThrottleStore,
  ) {}

  private addressKeys(address: string, user: string): { address: string; pair: string; seen: string } {
    const base = `wharf:bf:{a:${encodeURIComponent(address)}}`;
    return { address: `${base}:a`, pair: `${base}:p:${encodeURIComponent(user)}`, seen: `${base}:seen` };
  }

  private userKey(user: string): string {
    return `wharf:bf:{u:${encodeURIComponent(user)}}:u`;
  }

  async check(address: string, user: string, now: number): Promise<Throttle | null> {
    const local = this.local.empty ? null : this.local.check(address, user, now);
    const k = this.addressKeys(address, user);
    const r = (await this.redis.run((c) => c.eval(CHECK, 2, k.address, k.pair))) as
      [string, string, string] | undefined;
    let best = local;
    if (r) {
      const [a, p, reason] = r.map(String);
      if (Number(a) > now && (!best || Number(a) > best.until)) best = { until: Number(a), reason: 'address' };
      if (Number(p) > now && (!best || Number(p) >= best.until))
        best = { until: Number(p), reason: reason === 'user' ? 'user' : 'pair' };
    }
    return best;
  }

  async fail(address: string, user: string, seen: string, now: number, p: ThrottlePolicy): Promise<FailResult> {
    const k = this.addressKeys(address, user);
    const fresh = await this.redis.run((c) => c.eval(SEEN, 1, k.seen, seen, now, p.windowMs, SEEN_CAP));
    if (fresh === undefined) return this.local.fail(address, user, seen, now, p);
    if (Number(fresh) === 0) return { counted: false, started: [] };
    let userWide = false;
    if (p.userMaxFailures > 0) {
      const n = await this.redis.run((c) => c.eval(USER, 1, this.userKey(user), p.windowMs));
      if (n === undefined) return this.local.fail(address, user, seen, now, p);
      userWide = Number(n) >= p.userMaxFailures;
    }
    const started = await this.redis.run((c) =>
      c.eval(
        COUNT,
        2,
        k.address,
        k.pair,
        now,
        p.windowMs,
        p.pairMaxFailures,
        p.addressMaxFailures,
        p.initialDelayMs,
        p.maxDelayMs,
        userWide ? 1 : 0,
      ),
    );
    if (started === undefined) return this.local.fail(address, user, seen, now, p);
    return { counted: true, started: (started as string[]).map((s) => String(s) as ThrottleReason) };
  }

  async succeed(address: string, user: string, now: number): Promise<void> {
    this.local.succeedNow(address, user, now);
    const k = this.addressKeys(address, user);
    const n = await this.redis.run((c) => c.eval(SUCCEED, 2, k.address, k.pair));
    if (Number(n ?? 0) > 0) await this.redis.run((c) => c.eval(FORGIVE, 1, this.userKey(user), Number(n)));
  }
}
