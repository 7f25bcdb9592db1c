/**
 * Whether storage currently refuses writes (full disk, quota, read-only), as seen by the writes themselves: set by
 * a write that failed with StorageFullError, cleared by the next one that succeeds. While set, `recheck()` tries a
 * tiny write now and then (at most every `probeIntervalMs`), so that freed space shows without waiting for a push.
 * Reported by /debug/health, /readyz (as degraded: reads still work) and the `registry_storage_full` metric.
 */
import { StorageFullError, type StorageDriver } from './driver.js';

/** Where the probe writes (outside Distribution's `docker/` tree, which nothing else reads). */
export const PROBE_PATH = '/wharf-write-probe';

export class StorageWriteState {
  private refused: 'full' | 'readonly' | null = null;
  private lastProbe = 0;
  private probing = false;

  constructor(
    private readonly onChange: (full: boolean) => void = () => {},
    private readonly probeIntervalMs = 2000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The refusal in force, or null when writes work (as far as the last write knows). */
  get state(): 'full' | 'readonly' | null {
    return this.refused;
  }

  /** A human message for health endpoints; never a path. */
  failure(): string | null {
    if (this.refused === 'full')
      return 'storage is full (no space left or quota exceeded): writes are refused, reads work';
    if (this.refused === 'readonly')
      return 'storage refuses writes (read-only file system or access denied): reads work';
    return null;
  }

  /** Records the outcome of a write. */
  note(err: unknown): void {
    const next = err === null ? null : err instanceof StorageFullError ? err.kind : this.refused;
    if (next === this.refused) return;
    this.refused = next;
    this.onChange(next !== null);
  }

  /** While writes are refused, tries one small write on `driver` (rate-limited, in the background). */
  recheck(driver: StorageDriver): void {
    if (this.refused === null || this.probing || this.now() - this.lastProbe < this.probeIntervalMs) return;
    this.probing = true;
    this.lastProbe = this.now();
    driver
      .putContent(PROBE_PATH, Buffer.from('probe'))
      .then(() => driver.delete(PROBE_PATH))
      .then(
        () => this.note(null),
        (err) => this.note(err),
      )
      .finally(() => {
        this.probing = false;
      });
  }
}
