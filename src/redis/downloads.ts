/**
 * The proxy's download board in Redis: `SET wharf:proxy:download:<key> <entry JSON> PX <ttl>`, renewed while the
 * download runs and deleted by its publisher (compare-and-delete in Lua). A replica that dies mid-download leaves
 * its entry to expire after `ttlMs`; the replicas following it then give up (see proxy/blobs.ts).
 */
import type { DownloadBoard, DownloadEntry } from '../proxy/board.js';
import type { RedisConnection } from './connection.js';
import { keepOwned } from './owned.js';

export class RedisDownloadBoard implements DownloadBoard {
  constructor(
    private readonly redis: RedisConnection,
    private readonly ttlMs = 6_000,
  ) {}

  async announce(key: string, entry: DownloadEntry): Promise<() => Promise<void>> {
    const k = `wharf:proxy:download:${key}`;
    const value = JSON.stringify(entry);
    await this.redis.run((c) => c.set(k, value, 'PX', this.ttlMs));
    return keepOwned(this.redis, k, value, this.ttlMs);
  }

  async find(key: string): Promise<DownloadEntry | null> {
    const raw = await this.redis.run((c) => c.get(`wharf:proxy:download:${key}`));
    if (!raw) return null;
    try {
      const e = JSON.parse(raw) as Partial<DownloadEntry>;
      return typeof e.repository === 'string' && typeof e.uuid === 'string' && Number.isSafeInteger(e.size)
        ? (e as DownloadEntry)
        : null;
    } catch {
      return null;
    }
  }
}
