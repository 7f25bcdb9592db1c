/**
 * `storage.cache.blobdescriptor: redis`: the blob descriptor cache shared by every replica using the same Redis,
 * so a delete on one replica is seen by all at once (each fact is one key; a delete removes it).
 *
 * Keys (prefix `wharf:`, one key per fact so a Redis Cluster needs no multi-key command):
 *   `wharf:size:<digest>`                    blob size in the global store
 *   `wharf:link:<layer|manifest>:<name>@<digest>`  "1": the repository links it
 * Every key expires after `ttlMs`: the bound on staleness against changes no replica announces (garbage
 * collection, or CNCF Distribution writing the same bucket).
 *
 * While Redis is unavailable the cache answers "unknown" (requests read storage) and records the links it could
 * not forget; they are deleted when Redis is back, before the cache is trusted again (RedisConnection.onRecover).
 */
import { Cluster } from 'ioredis';
import type { DescriptorCache, LinkKind } from '../registry/cache.js';
import type { RedisConnection } from './connection.js';

const PREFIX = 'wharf:';
/** Links whose invalidation is replayed after an outage; past this many, every `wharf:link:` key is dropped. */
const MAX_PENDING = 10_000;

export class RedisDescriptorCache implements DescriptorCache {
  private pending = new Set<string>();
  private overflow = false;

  constructor(
    private readonly redis: RedisConnection,
    private readonly ttlMs = 10 * 60_000,
  ) {
    redis.onRecover(() => this.replay());
  }

  private linkKey(kind: LinkKind, name: string, digest: string): string {
    return `${PREFIX}link:${kind}:${name}@${digest}`;
  }

  async size(digest: string): Promise<number | undefined> {
    const v = await this.redis.run((c) => c.get(`${PREFIX}size:${digest}`));
    if (v === undefined || v === null) return undefined;
    const n = Number(v);
    return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  }

  async setSize(digest: string, size: number): Promise<void> {
    await this.redis.run((c) => c.set(`${PREFIX}size:${digest}`, String(size), 'PX', this.ttlMs));
  }

  async forgetSize(digest: string): Promise<void> {
    const done = await this.redis.run((c) => c.del(`${PREFIX}size:${digest}`));
    if (done === undefined) this.remember(`${PREFIX}size:${digest}`);
  }

  async linked(kind: LinkKind, name: string, digest: string): Promise<boolean> {
    return (await this.redis.run((c) => c.exists(this.linkKey(kind, name, digest)))) === 1;
  }

  async setLinked(kind: LinkKind, name: string, digest: string): Promise<void> {
    await this.redis.run((c) => c.set(this.linkKey(kind, name, digest), '1', 'PX', this.ttlMs));
  }

  async forgetLink(kind: LinkKind, name: string, digest: string): Promise<void> {
    const key = this.linkKey(kind, name, digest);
    const done = await this.redis.run((c) => c.del(key));
    if (done === undefined) this.remember(key);
  }

  private remember(key: string): void {
    if (this.pending.size >= MAX_PENDING) this.overflow = true;
    else this.pending.add(key);
  }

  /** Deletes what could not be deleted during the outage (throws, keeping the circuit open, if Redis fails again). */
  private async replay(): Promise<void> {
    const c = this.redis.client;
    if (this.overflow) {
      const nodes = c instanceof Cluster ? c.nodes('master') : [c];
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
          for (const k of keys) await c.unlink(k);
          cursor = next;
        } while (cursor !== '0');
      }
      this.overflow = false;
      this.pending.clear();
      return;
    }
    for (const key of [...this.pending]) {
      await c.unlink(key);
      this.pending.delete(key);
    }
  }
}
