/**
 * One upstream download of one blob, shared by everyone who wants it: the bytes go to a file as they arrive, and
 * every reader (each waiting client, and the write into storage) tails that file at its own pace. The download is
 * paced by the spool and by the write into storage, never by a client, so a slow or vanished client neither slows
 * nor stops it.
 *
 * The file is the storage's own upload file when the driver can read it while it is written (filesystem:
 * `Spool.over`), so each byte reaches the disk once, as in Distribution's mirror (a disk may take new data more
 * slowly than the network brings it: ~400 MB/s on the test machine, docs/mirror.md). Otherwise (S3, or read-only
 * mode storing nothing) it is a spool file of its own, unlinked at once (`Spool.create`).
 *
 * The newest bytes also stay in memory (the ring). The write into storage is fed from there only (the ring keeps
 * what it has not read; the download waits when it falls STORE_BEHIND back), so each byte is read from the network
 * once and written to disk twice, never read back for storage. A client is written to in batches of up to
 * BATCH_BYTES, from the ring or read from the spool file, so a client behind the download (the usual case: the
 * upstream is faster) costs one socket write per MiB rather than one per network chunk.
 *
 * Never poisoned: the digest and the declared size are checked when the body ends. Until then every reader holds
 * back the last byte of what it reads, so no client ever receives a complete-looking blob that failed the check:
 * on failure each reader fails (the HTTP layer then destroys the connection) and storage keeps nothing (an append
 * is all or nothing).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { ReadHandle } from '../storage/driver.js';

/** The newest bytes stay in memory too: readers near the head never wait for the disk. */
const RING_BYTES = 4 * 1024 * 1024;
/** Bytes queued for the spool file before the download waits for the disk. */
const WRITE_BEHIND = 4 * 1024 * 1024;
/** How far the write into storage may fall behind before the download waits for it (all of it kept in the ring). */
const STORE_BEHIND = 8 * 1024 * 1024;
/** The most written to a client at once (one writev from the ring, or one read of the spool file). */
const BATCH_BYTES = 1024 * 1024;
/** How long a reader behind the ring waits before reading the storage's file again, when its bytes are not there yet. */
const TAIL_RETRY_MS = 2;
/** Below this, a reader at the head of a download in progress waits for more before writing to its client. */
const MIN_WRITE = 256 * 1024;

export type SpoolState = 'streaming' | 'verified' | 'failed';

/** Where `pipeTo` writes: an HTTP response (ServerResponse, Http2ServerResponse). */
export interface SpoolSink {
  /** False: the sink is full; wait for 'drain'. */
  write(chunk: Buffer): boolean;
  cork(): void;
  uncork(): void;
  once(event: 'drain' | 'close', fn: () => void): unknown;
  off(event: 'drain' | 'close', fn: () => void): unknown;
}

/** Resolves once `out` can take more, or has closed. */
function drained(out: SpoolSink): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.once('drain', done);
    out.once('close', done);
  });
}

export class Spool {
  state: SpoolState = 'streaming';
  /** Bytes received so far; those below `onDisk` are in the file, the newest also in `ring`. */
  written = 0;
  private onDisk = 0;
  private ring: Array<{ offset: number; chunk: Buffer }> = [];
  private ringBytes = 0;
  error: Error | null = null;
  private waiters: Array<() => void> = [];
  private readers = 0;
  private closed = false;
  /** The position of the write into storage: the ring keeps everything from there on. */
  private pinned: { pos: number } | null = null;
  private storeMoved: (() => void) | null = null;
  /** Settles when the download fails: a reader waiting for a full client's drain stops waiting then. */
  private failed!: () => void;
  private readonly failure = new Promise<void>((resolve) => (this.failed = resolve));

  /** Set when the write into the storage's file failed (over() only): bytes older than the ring are gone. */
  private lost: Error | null = null;

  private constructor(
    /** The spool file of its own (create()), which fill() writes; null when tailing the storage's file. */
    private readonly own: FileHandle | null,
    private readonly file: Pick<ReadHandle, 'read' | 'close'>,
    readonly size: number | null,
    /** Every byte fill() receives was read from `file` (over() with readBack): none can be missing from it. */
    private readonly readBack = false,
  ) {}

  /** A spool with a file of its own. */
  static async create(size: number | null, dir = tmpdir()): Promise<Spool> {
    const path = join(dir, `wharf-proxy-${randomBytes(8).toString('hex')}`);
    const fd = await open(path, 'w+', 0o600);
    // Unlinked at once: the open descriptor keeps the data; nothing is left behind by a crash.
    await unlink(path).catch(() => undefined);
    const read = async (into: Buffer, length: number, position: number) =>
      (await fd.read(into, 0, length, position)).bytesRead;
    return new Spool(fd, { read, close: () => fd.close() }, size);
  }

  /**
   * A spool over the file the write into storage (the one storeReader) appends to, read through `tail`; it writes
   * nothing itself. The spool closes `tail`. Tell it with storageFailed() if that write fails. `readBack`: fill()
   * is fed from that same file (following another replica's download), so its bytes are all there already.
   */
  static over(tail: ReadHandle, size: number | null, opts: { readBack?: boolean } = {}): Spool {
    return new Spool(null, tail, size, opts.readBack ?? false);
  }

  /**
   * Copies `body` into the spool, hashing it with `algorithm`; resolves once it is verified against `hex` (and
   * the declared size), rejects (and fails every reader) otherwise. `onBytes` sees each chunk's length.
   */
  async fill(body: Readable, algorithm: string, hex: string, onBytes: (n: number) => void): Promise<void> {
    const hash = createHash(algorithm);
    // Queued writes (not one awaited write per chunk): the file keeps up without pacing the download by its latency.
    // By descriptor number, not FileHandle: a stream over a FileHandle holds a reference that only its own close
    // drops, so (with autoClose off) FileHandle.close() never completed and every spool's descriptor was left to the
    // garbage collector. The stream never closes the descriptor (autoClose off, never destroyed); maybeClose() does.
    const file = this.own
      ? createWriteStream('', { fd: this.own.fd, autoClose: false, highWaterMark: WRITE_BEHIND })
      : null;
    const fileFailed = new Promise<never>((_, reject) => file?.once('error', reject));
    fileFailed.catch(() => undefined);
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (this.state === 'failed') throw this.error!;
        if (this.size !== null && this.written + chunk.length > this.size)
          throw new Error(`upstream sent more than its Content-Length of ${this.size} bytes`);
        hash.update(chunk);
        const offset = this.written;
        this.remember(offset, chunk);
        this.written += chunk.length;
        onBytes(chunk.length);
        this.wake();
        if (file) {
          // Corked up to BATCH_BYTES: one writev per MiB, not one thread-pool trip per network chunk.
          if (file.writableCorked === 0) file.cork();
          const more = file.write(chunk, () => {
            this.onDisk = offset + chunk.length;
          });
          if (file.writableLength >= BATCH_BYTES) file.uncork();
          if (!more) await Promise.race([once(file, 'drain'), fileFailed]);
        }
        while (this.pinned && this.written - this.pinned.pos > STORE_BEHIND)
          await new Promise<void>((resolve) => (this.storeMoved = resolve));
      }
      if (file) {
        if (file.writableCorked > 0) file.uncork();
        await Promise.race([new Promise<void>((resolve) => file.end(resolve)), fileFailed]);
      }
      if (this.size !== null && this.written !== this.size)
        throw new Error(`upstream body ended after ${this.written} of ${this.size} bytes`);
      const actual = hash.digest('hex');
      if (actual !== hex)
        throw new Error(`upstream sent bytes whose digest is ${algorithm}:${actual}, not ${algorithm}:${hex}`);
      this.state = 'verified';
      this.wake();
    } catch (err) {
      // Ended, never destroyed: destroy() closes the descriptor even with autoClose off, and maybeClose() closing
      // the number again could hit another file that was given it meanwhile. Ending waits for the queued writes.
      if (file && !file.errored) await new Promise<void>((resolve) => file.end(() => resolve()));
      this.fail(err as Error);
      throw this.error;
    }
  }

  /** Keeps `chunk` in the ring, dropping the oldest chunks beyond RING_BYTES that are on disk and stored. */
  private remember(offset: number, chunk: Buffer): void {
    this.ring.push({ offset, chunk });
    this.ringBytes += chunk.length;
    // Over the storage's file, what the write into storage took is (about to be) in the file.
    const keep = Math.min(this.own ? this.onDisk : Infinity, this.pinned?.pos ?? Infinity);
    while (
      this.ringBytes - this.ring[0].chunk.length >= RING_BYTES &&
      this.ring[0].offset + this.ring[0].chunk.length <= keep
    ) {
      this.ringBytes -= this.ring.shift()!.chunk.length;
    }
  }

  /** The ring chunk holding `pos`, or -1 when `pos` is older than the ring. */
  private ringIndex(pos: number): number {
    if (this.ring.length === 0 || pos < this.ring[0].offset) return -1;
    // Readers are near the head: search from the newest chunk.
    for (let i = this.ring.length - 1; i >= 0; i--) if (pos >= this.ring[i].offset) return i;
    return -1;
  }

  /**
   * Up to `max` bytes from `pos` (below `upto`) as ring slices (no copy), or one slice read from the spool file
   * when `pos` is older than the ring.
   */
  private async bytesAt(pos: number, upto: number, max: number): Promise<Buffer[]> {
    const limit = Math.min(upto, pos + max);
    let i = this.ringIndex(pos);
    if (i >= 0) {
      const out: Buffer[] = [];
      for (; i < this.ring.length && pos < limit; i++) {
        const { offset, chunk } = this.ring[i];
        const part = chunk.subarray(pos - offset, Math.min(chunk.length, limit - offset));
        out.push(part);
        pos += part.length;
      }
      return out;
    }
    if (this.lost) throw this.lost;
    const n = Math.min(limit, this.own ? this.onDisk : Infinity) - pos;
    const buf = Buffer.allocUnsafe(n);
    const bytesRead = await this.file.read(buf, n, pos);
    if (bytesRead === 0) {
      if (this.own || this.readBack) throw new Error('spool file shrank');
      // Taken by the write into storage but not written yet (its stream's buffer): a moment later it is.
      if (this.lost) throw this.lost;
      await new Promise((resolve) => setTimeout(resolve, TAIL_RETRY_MS));
      return [];
    }
    return [bytesRead === n ? buf : buf.subarray(0, bytesRead)];
  }

  /** True once storageFailed() was told of a failed write into the storage's file. */
  get storageLost(): boolean {
    return this.lost !== null;
  }

  /**
   * The write into the storage's file failed (over() only): readers behind the ring cannot be served any more,
   * and a download still in progress fails (nothing would hold its older bytes).
   */
  storageFailed(err: Error): void {
    if (this.own) return;
    this.lost = err;
    this.fail(err);
  }

  fail(err: Error): void {
    if (this.state !== 'streaming') return;
    this.error = err;
    this.state = 'failed';
    this.wake();
    this.failed();
  }

  /**
   * How far a reader whose range ends at `end` (undefined: the whole blob) may read now, and where it stops. The
   * last byte of the range is held back until the blob is verified.
   */
  private bound(end: number | undefined): { upto: number; stop: number; final: boolean } {
    const final = this.state === 'verified';
    const stop = end ?? (final ? this.written : (this.size ?? Infinity));
    const upto = final
      ? Math.min(this.written, stop)
      : Math.min(this.written, stop) - (this.written >= stop || this.size === null ? 1 : 0);
    return { upto, stop, final };
  }

  /** Resolves at the next arrival, verification or failure. */
  private next(): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /**
   * The whole blob as it arrives, for the write into storage; take it before fill() starts and `close()` it once
   * the write ended, however it ended. `chunks` yields the last byte only once the blob is verified and throws the
   * download's error if it fails.
   */
  storeReader(): { chunks: AsyncGenerator<Buffer>; close(): void } {
    this.readers++;
    const pin = { pos: 0 };
    this.pinned = pin;
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      this.advance(pin, Infinity);
      this.readers--;
      void this.maybeClose();
    };
    return { chunks: this.storeChunks(pin, close), close };
  }

  private async *storeChunks(pin: { pos: number }, close: () => void): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        if (this.state === 'failed') throw this.error!;
        const { upto, final } = this.bound(undefined);
        if (pin.pos < upto) {
          // The ring holds everything from the pin: one chunk at a time, without a copy.
          const [buf] = await this.bytesAt(pin.pos, upto, Infinity);
          this.advance(pin, pin.pos + buf.length);
          yield buf;
          continue;
        }
        if (final) return;
        await this.next();
      }
    } finally {
      close();
    }
  }

  /** The write into storage moved to `pos` (Infinity: it ended, and pins nothing any more). */
  private advance(pin: { pos: number }, pos: number): void {
    pin.pos = pos;
    if (pos === Infinity && this.pinned === pin) this.pinned = null;
    const moved = this.storeMoved;
    this.storeMoved = null;
    moved?.();
  }

  /**
   * Writes the bytes [start, end) (end: the whole blob) to `out` as they arrive, minding its backpressure; resolves
   * once all are written (the caller then ends the response); rejects when the download fails (the last byte was
   * held back) or `out` closes first. The download goes on either way.
   */
  async pipeTo(out: SpoolSink, start = 0, end?: number): Promise<void> {
    this.readers++;
    let gone = false;
    const onClose = () => (gone = true);
    out.once('close', onClose);
    try {
      let pos = start;
      for (;;) {
        if (this.state === 'failed') throw this.error!;
        if (gone) throw new Error('the client closed the connection');
        const { upto, stop, final } = this.bound(end);
        // At the head of a download in progress, a few network chunks make one write: a socket write per 64 KiB
        // chunk cost more CPU than the hashing (every write wakes the client). The first bytes go at once.
        const batching = !final && pos > start && upto - pos < MIN_WRITE && upto < stop - 1;
        if (pos < upto && !batching) {
          const parts = await this.bytesAt(pos, upto, BATCH_BYTES);
          let more = true;
          out.cork();
          for (const part of parts) {
            more = out.write(part);
            pos += part.length;
          }
          out.uncork();
          if (!more) await Promise.race([drained(out), this.failure]);
          continue;
        }
        if (final || pos >= stop) return;
        // Failure wakes it too; a client that leaves meanwhile is noticed at the next arrival.
        await this.next();
      }
    } finally {
      out.off('close', onClose);
      this.readers--;
      void this.maybeClose();
    }
  }

  /** Called once nobody will start a new reader: the file is closed when the last reader ends. */
  release(): void {
    this.closed = true;
    // After the current microtasks: a request that was just handed this spool calls pipeTo() within them.
    setImmediate(() => void this.maybeClose());
  }

  private async maybeClose(): Promise<void> {
    if (!this.closed || this.readers > 0 || this.state === 'streaming') return;
    this.readers = -1;
    this.ring = [];
    await this.file.close().catch(() => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
