/**
 * One writer per upload session. In one process a set suffices; replicas behind a load balancer share a lock in
 * Redis (src/redis/locks.ts), chosen in app.ts. A second writer is refused, never queued: clients send an
 * upload's chunks one after the other, so a concurrent write is a client bug or a retry racing its original.
 */
export interface UploadLocks {
  /** Takes the session's lock; the returned function releases it. Null when another writer holds it. */
  acquire(uuid: string): Promise<(() => Promise<void>) | null>;
}

/** Per process: what a single replica needs. */
export class LocalUploadLocks implements UploadLocks {
  private readonly busy = new Set<string>();

  async acquire(uuid: string): Promise<(() => Promise<void>) | null> {
    if (this.busy.has(uuid)) return null;
    this.busy.add(uuid);
    return async () => {
      this.busy.delete(uuid);
    };
  }
}
