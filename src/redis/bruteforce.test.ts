/** The throttle store suite on a real redis-server, plus what only Redis does: key expiry, and the fallback when it is down. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { REDIS_MISSING, REDIS_SERVER, startRedis, type RedisServer } from '../../test/e2e/redisserver.js';
import { MemoryThrottleStore } from '../auth/bruteforce.js';
import { runThrottleStoreSuite, SUITE_POLICY } from '../auth/bruteforcesuite.js';
import { parseConfig } from '../config/load.js';
import { RedisThrottleStore } from './bruteforce.js';
import { RedisConnection } from './connection.js';

if (!REDIS_SERVER) {
  it('redis throttle store suite', { skip: REDIS_MISSING }, () => {});
} else {
  let server: RedisServer;
  let conn: RedisConnection;
  let store: RedisThrottleStore;

  before(async () => {
    server = await startRedis();
    const { config } = parseConfig(`version: 0.1\nstorage: inmemory\nredis:\n  addrs: [${server.addr}]\n`, 'test');
    conn = new RedisConnection(config.redis!, pino({ level: process.env.DEBUG_REDIS ? 'debug' : 'silent' }));
    for (let i = 0; !conn.up; i++) {
      if (i > 200) throw new Error('redis did not become usable');
      await new Promise((r) => setTimeout(r, 50));
    }
    store = new RedisThrottleStore(conn, new MemoryThrottleStore());
  });

  after(async () => {
    await conn?.close();
    await server?.stop();
  });

  runThrottleStoreSuite('redis', {
    store: () => store,
    now: () => Date.now(),
    skip: [
      {
        reason:
          'Redis forgets by expiring keys on its own clock, not on the time passed in: the TTL test below checks it',
        tests: ['counts are forgotten a window after the last failure or the throttle end, whichever is later'],
      },
    ],
  });

  describe('redis throttle store: expiry and outage', () => {
    it('every key expires a window after the later of its last failure and its throttle end', async () => {
      const p = SUITE_POLICY;
      const now = Date.now();
      for (let i = 0; i < p.pairMaxFailures; i++) await store.fail('198.51.100.1', 'ttl', `w${i}`, now, p);
      const ttl = async (key: string) => Number((await server.command(`PTTL ${key}`)).replace(/^:/, ''));
      const pair = await ttl('wharf:bf:{a:198.51.100.1}:p:ttl');
      const address = await ttl('wharf:bf:{a:198.51.100.1}:a');
      const user = await ttl('wharf:bf:{u:ttl}:u');
      const seen = await ttl('wharf:bf:{a:198.51.100.1}:seen');
      const elapsed = Date.now() - now;
      // The pair is throttled for initialDelayMs: it lives that much longer than the others.
      assert.ok(
        pair > p.windowMs + p.initialDelayMs - elapsed - 50 && pair <= p.windowMs + p.initialDelayMs,
        `pair PTTL ${pair}`,
      );
      for (const [name, v] of Object.entries({ address, user, seen }))
        assert.ok(v > p.windowMs - elapsed - 50 && v <= p.windowMs, `${name} PTTL ${v}`);
    });

    it('with Redis down, failures count in this process and still throttle; back up, Redis counts again', async () => {
      const p = SUITE_POLICY;
      await server.kill();
      for (let i = 0; i < 20 && conn.up; i++) {
        await store.check('198.51.100.2', 'x', Date.now());
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(conn.up, false);
      const now = Date.now();
      for (let i = 0; i < p.pairMaxFailures; i++)
        assert.equal((await store.fail('198.51.100.2', 'down', `w${i}`, now, p)).counted, true);
      assert.equal((await store.check('198.51.100.2', 'down', now))?.reason, 'pair');
      await server.restart();
      for (let i = 0; !conn.up; i++) {
        if (i > 200) throw new Error('redis did not come back');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(
        (await store.check('198.51.100.2', 'down', now))?.reason,
        'pair',
        'the local throttle still applies',
      );
      await store.fail('198.51.100.3', 'up', 'w', now, p);
      assert.match(await server.command('HGET wharf:bf:{a:198.51.100.3}:a n'), /\$1\r\n1/);
    });
  });
}
