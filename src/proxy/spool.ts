/**
 * One upstream download of one blob, shared by everyone who wants it: the bytes go to a local spool file as they
 * arrive, and every reader (each waiting client, and the write into storage) tails that file at its own pace. The
 * download is paced by the spool alone, so a slow or vanished client neither slows nor stops it.
 *
 * Never poisoned: the digest and the declared size are checked when the body ends. Until then every reader holds
 * back its last byte, so no client ever receives a complete-looking blob that failed the check: on failure each
 * reader throws (the HTTP layer then destroys the connection) and storage keeps nothing (an append is all or
 * nothing).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

const READ_CHUNK = 256 * 1024;
/** The newest bytes stay in memory too: readers at the head (the usual case) never wait for the disk. */
const RING_BYTES = 4 * 1024 * 1024;
/** Bytes queued for the spool file before the download waits for the disk. */
const WRITE_BEHIND = 4 * 1024 * 1024;

export type SpoolState = 'streaming' | 'verified' | 'failed';

export class Spool {
  state: SpoolState = 'streaming';
  /** Bytes received so far; those below `onDisk` are in the file, the newest (up to RING_BYTES) also in `ring`. */
  written = 0;
  private onDisk = 0;
  private ring: Array<{ offset: number; chunk: Buffer }> = [];
  private ringBytes = 0;
  error: Error | null = null;
  private waiters: Array<() => void> = [];
  private readers = 0;
  private closed = false;

  private constructor(private readonly fd: FileHandle, readonly size: number | null) {}

  static async create(size: number | null, dir = tmpdir()): Promise<Spool> {
    const path = join(dir, `wharf-proxy-${randomBytes(8).toString('hex')}`);
    const fd = await open(path, 'w+', 0o600);
    // Unlinked at once: the open descriptor keeps the data; nothing is left behind by a crash.
    await unlink(path).catch(() => undefined);
    return new Spool(fd, size);
  }

  /**
   * Copies `body` into the spool, hashing it with `algorithm`; resolves once it is verified against `hex` (and
   * the declared size), rejects (and fails every reader) otherwise. `onBytes` sees each chunk's length.
   */
  async fill(body: Readable, algorithm: string, hex: string, onBytes: (n: number) => void): Promise<void> {
    const hash = createHash(algorithm);
    // Queued writes (not one awaited write per chunk): the file keeps up without pacing the download by its latency.
    const file = createWriteStream('', { fd: this.fd, autoClose: false, highWaterMark: WRITE_BEHIND });
    const fileFailed = new Promise<never>((_, reject) => file.once('error', reject));
    fileFailed.catch(() => undefined);
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (this.size !== null && this.written + chunk.length > this.size) throw new Error(`upstream sent more than its Content-Length of ${this.size} bytes`);
        hash.update(chunk);
        const offset = this.written;
        this.remember(offset, chunk);
        this.written += chunk.length;
        onBytes(chunk.length);
        this.wake();
        const more = file.write(chunk, () => {
          this.onDisk = offset + chunk.length;
        });
        if (!more) await Promise.race([once(file, 'drain'), fileFailed]);
      }
      await Promise.race([new Promise<void>((resolve) => file.end(resolve)), fileFailed]);
      if (this.size !== null && this.written !== this.size) throw new Error(`upstream body ended after ${this.written} of ${this.size} bytes`);
      const actual = hash.digest('hex');
      if (actual !== hex) throw new Error(`upstream sent bytes whose digest is ${algorithm}:${actual}, not ${algorithm}:${hex}`);
      this.state = 'verified';
      this.wake();
    } catch (err) {
      file.destroy();
      this.fail(err as Error);
      throw this.error;
    }
  }

  /** Keeps `chunk` in the ring, dropping the oldest chunks that are already on disk beyond RING_BYTES. */
  private remember(offset: number, chunk: Buffer): void {
    this.ring.push({ offset, chunk });
    this.ringBytes += chunk.length;
    while (this.ringBytes - this.ring[0].chunk.length >= RING_BYTES && this.ring[0].offset + this.ring[0].chunk.length <= this.onDisk) {
      this.ringBytes -= this.ring.shift()!.chunk.length;
    }
  }

  /** Bytes from `pos` (at most up to `upto`) out of the ring, or null when `pos` is older than the ring. */
  private fromRing(pos: number, upto: number): Buffer | null {
    if (this.ring.length === 0 || pos < this.ring[0].offset) return null;
    // Readers are near the head: search from the newest chunk.
    for (let i = this.ring.length - 1; i >= 0; i--) {
      const { offset, chunk } = this.ring[i];
      if (pos >= offset && pos < offset + chunk.length) return chunk.subarray(pos - offset, Math.min(chunk.length, upto - offset));
    }
    return null;
  }

  fail(err: Error): void {
    if (this.state !== 'streaming') return;
    this.error = err;
    this.state = 'failed';
    this.wake();
  }

  /**
   * The bytes [start, end) (end: the whole blob), as they arrive. The last byte is yielded only once the blob is
   * verified; throws the download's error if it fails.
   */
  read(start = 0, end?: number): AsyncGenerator<Buffer> {
    // Counted now, not at the first iteration: release() must see a reader that has not started reading yet.
    this.readers++;
    return this.iterate(start, end);
  }

  private async *iterate(start: number, end: number | undefined): AsyncGenerator<Buffer> {
    try {
      let pos = start;
      for (;;) {
        if (this.state === 'failed') throw this.error!;
        const final = this.state === 'verified';
        const stop = end ?? (final ? this.written : this.size ?? Infinity);
        const upto = final ? Math.min(this.written, stop) : Math.min(this.written, stop) - (this.written >= stop || this.size === null ? 1 : 0);
        if (pos < upto) {
          const recent = this.fromRing(pos, upto);
          if (recent) {
            pos += recent.length;
            yield recent;
            continue;
          }
          const n = Math.min(upto - pos, this.onDisk - pos, READ_CHUNK);
          const buf = Buffer.allocUnsafe(n);
          const { bytesRead } = await this.fd.read(buf, 0, n, pos);
          if (bytesRead === 0) throw new Error('spool file shrank');
          pos += bytesRead;
          yield bytesRead === n ? buf : buf.subarray(0, bytesRead);
          continue;
        }
        if (final || pos >= stop) return;
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
    } finally {
      this.readers--;
      void this.maybeClose();
    }
  }

  /** Called once nobody will start a new reader: the file is closed when the last reader ends. */
  release(): void {
    this.closed = true;
    // After the current microtasks: a request that was just handed this spool calls read() within them.
    setImmediate(() => void this.maybeClose());
  }

  private async maybeClose(): Promise<void> {
    if (!this.closed || this.readers > 0 || this.state === 'streaming') return;
    this.readers = -1;
    this.ring = [];
    await this.fd.close().catch(() => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
