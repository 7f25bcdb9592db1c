/**
 * Tag changes shared by the replicas using one Redis (see TagChanges in src/registry/tags.ts): a replica that moves
 * or removes a tag publishes `<sender> <name>:<tag>` on `wharf:tags`, and every other replica drops its cached
 * lookup of that tag, so a push on one is usually served by all within milliseconds.
 *
 * Pub/sub is fire-and-forget: a message published while a subscriber is disconnected is lost. That is why the
 * tag cache's trust window (`storage.cache.tagttl`) stays the bound on staleness with or without Redis; this only
 * makes the usual case faster. The subscriber is a connection of its own (a subscribed connection can do nothing
 * else); ioredis resubscribes it after a reconnection.
 */
import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import type { TagChanges } from '../registry/tags.js';
import type { RedisClient, RedisConnection } from './connection.js';

export const TAG_CHANNEL = 'wharf:tags';

export class RedisTagChanges implements TagChanges {
  /** Tells this process's own messages apart (it receives them too). */
  private readonly sender = randomUUID();
  private readonly subscriber: RedisClient;
  private readonly listeners: Array<(name: string, tag: string) => void> = [];

  constructor(
    private readonly redis: RedisConnection,
    log: Logger,
  ) {
    // The offline queue lets SUBSCRIBE wait for the first connection; publishing goes through run(), which never queues.
    const c = redis.client;
    this.subscriber =
      c instanceof Cluster
        ? c.duplicate(undefined, { enableOfflineQueue: true })
        : c.duplicate({ enableOfflineQueue: true });
    this.subscriber.on('error', () => undefined); // the main connection logs outages
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== TAG_CHANNEL) return;
      const space = message.indexOf(' ');
      const colon = message.lastIndexOf(':');
      if (space < 0 || colon < space || message.slice(0, space) === this.sender) return;
      const name = message.slice(space + 1, colon);
      const tag = message.slice(colon + 1);
      for (const fn of this.listeners) fn(name, tag);
    });
    this.subscriber
      .subscribe(TAG_CHANNEL)
      .catch((err: Error) =>
        log.warn(
          `redis: cannot subscribe to ${TAG_CHANNEL}: ${err.message}; tags moved by other replicas are seen within storage.cache.tagttl`,
        ),
      );
  }

  publish(name: string, tag: string): void {
    void this.redis.run((c) => c.publish(TAG_CHANNEL, `${this.sender} ${name}:${tag}`));
  }

  subscribe(fn: (name: string, tag: string) => void): void {
    this.listeners.push(fn);
  }

  close(): void {
    this.subscriber.disconnect();
  }
}
