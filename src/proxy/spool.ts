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
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

const READ_CHUNK = 256 * 1024;

export type SpoolState = 'streaming' | 'verified' | 'failed';

export class Spool {
  state: SpoolState = 'streaming';
  written = 0;
  error: Error | null = null;
  private waiters: Array<() => void> = [];
  private readers = 0;
  private closed = false;

  private constructor(private readonly fd: FileHandle, private readonly path: string, readonly size: number | null) {}

  static async create(size: number | null, dir = tmpdir()): Promise<Spool> {
    const path = join(dir, `wharf-proxy-${randomBytes(8).toString('hex')}`);
    const fd = await open(path, 'w+', 0o600);
    // Unlinked at once: the open descriptor keeps the data; nothing is left behind by a crash.
    await unlink(path).catch(() => undefined);
    return new Spool(fd, path, size);
  }

  /**
   * Copies `body` into the spool, hashing it with `algorithm`; resolves once it is verified against `hex` (and
   * the declared size), rejects (and fails every reader) otherwise. `onBytes` sees each chunk's length.
   */
  async fill(body: Readable, algorithm: string, hex: string, onBytes: (n: number) => void): Promise<void> {
    const hash = createHash(algorithm);
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (this.size !== null && this.written + chunk.length > this.size) throw new Error(`upstream sent more than its Content-Length of ${this.size} bytes`);
        hash.update(chunk);
        await this.fd.write(chunk, 0, chunk.length, this.written);
        this.written += chunk.length;
        onBytes(chunk.length);
        this.wake();
      }
      if (this.size !== null && this.written !== this.size) throw new Error(`upstream body ended after ${this.written} of ${this.size} bytes`);
      const actual = hash.digest('hex');
      if (actual !== hex) throw new Error(`upstream sent bytes whose digest is ${algorithm}:${actual}, not ${algorithm}:${hex}`);
      this.state = 'verified';
      this.wake();
    } catch (err) {
      this.fail(err as Error);
      throw this.error;
    }
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
  async *read(start = 0, end?: number): AsyncGenerator<Buffer> {
    this.readers++;
    try {
      let pos = start;
      for (;;) {
        if (this.state === 'failed') throw this.error!;
        const final = this.state === 'verified';
        const stop = end ?? (final ? this.written : this.size ?? Infinity);
        const upto = final ? Math.min(this.written, stop) : Math.min(this.written, stop) - (this.written >= stop || this.size === null ? 1 : 0);
        if (pos < upto) {
          const n = Math.min(upto - pos, READ_CHUNK);
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
    void this.maybeClose();
  }

  private async maybeClose(): Promise<void> {
    if (!this.closed || this.readers > 0 || this.state === 'streaming') return;
    this.readers = -1;
    await this.fd.close().catch(() => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
