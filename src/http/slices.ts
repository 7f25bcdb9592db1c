/**
 * Sends bytes [start, end) of a file to a response in large slices read into reused buffers: the next slice is
 * read while the previous one is being written, and a buffer is reused only once the socket has taken it (its
 * write callback). Measured against a 64 KiB-chunk stream pipeline, this is what lets Node serve a blob at the
 * speed of Distribution's sendfile(2): no allocation, no page faults and no collector work per chunk, and no
 * stream machinery between the file and the socket.
 *
 * Memory is bounded: at most two slices per response, and at most POOL_BYTES of full-size slices in use across
 * all responses; past that, responses get small slices allocated for them (slower, never unbounded).
 */
import type { ReadHandle } from '../storage/driver.js';

/** The read size: 1 MiB reads keep the thread pool trip (~20 us of event-loop time) under 1% of the transfer. */
export const SLICE_BYTES = 1024 * 1024;
/** Full-size slices in use at once, across responses (16 concurrent full-speed pulls). */
const POOL_BYTES = 32 * SLICE_BYTES;
/** Slices kept for reuse when idle; the rest are left to the collector. */
const KEEP_IDLE = 4;
/** The size of a slice handed out when the pool is exhausted. */
const SMALL_SLICE = 64 * 1024;

const idle: Buffer[] = [];
let inUse = 0;

function takeSlice(): Buffer {
  if (inUse + SLICE_BYTES > POOL_BYTES) return Buffer.allocUnsafeSlow(SMALL_SLICE);
  inUse += SLICE_BYTES;
  return idle.pop() ?? Buffer.allocUnsafeSlow(SLICE_BYTES);
}

/** Gives a slice back; `reuse` false when a write may still hold it (the response ended abnormally). */
function giveSlice(b: Buffer, reuse: boolean): void {
  if (b.length !== SLICE_BYTES) return;
  inUse -= SLICE_BYTES;
  if (reuse && idle.length < KEEP_IDLE) idle.push(b);
}

/** Full-size slices currently lent out (for tests of the bound). */
export function slicesInUse(): number {
  return inUse / SLICE_BYTES;
}

/** The part of a response this needs: Node's ServerResponse, Http2ServerResponse. */
export interface SliceSink {
  write(chunk: Buffer, cb: (err?: Error | null) => void): boolean;
  once(event: 'close', fn: () => void): unknown;
  off(event: 'close', fn: () => void): unknown;
  readonly writableEnded: boolean;
}

/**
 * Writes [start, end) of `file` to `out`; resolves when the last slice was handed to the socket (the caller ends
 * the response). Rejects when the response closes first (client gone), a write or read fails, or the file is
 * shorter than `end`. Never closes `file`.
 */
export async function sendSlices(file: ReadHandle, out: SliceSink, start: number, end: number): Promise<void> {
  if (start >= end) return;
  let closed = false;
  let onClosed: (() => void) | null = null;
  const closeListener = () => {
    closed = true;
    onClosed?.();
  };
  out.once('close', closeListener);
  const write = (chunk: Buffer) =>
    new Promise<void>((resolve, reject) => {
      if (closed) return reject(new Error('response closed'));
      // A response whose connection is gone may never call back: the close listener settles the write instead.
      onClosed = () => reject(new Error('response closed'));
      out.write(chunk, (err) => (err ? reject(err) : resolve()));
    });
  // Marked handled at once: a read may fail while a write is awaited, and is awaited itself only after.
  const read = (into: Buffer, pos: number): Promise<Buffer> => {
    const p = file.read(into, Math.min(into.length, end - pos), pos).then((n) => {
      if (n === 0) throw new Error(`file ended at ${pos} of ${end}`);
      return into.subarray(0, n);
    });
    p.catch(() => undefined);
    return p;
  };

  const slices = [takeSlice()];
  if (end - start > slices[0].length) slices.push(takeSlice());
  // The read in flight, awaited before returning even on failure: the caller closes the file next.
  let reading: Promise<Buffer | null> = read(slices[0], start);
  let clean = false;
  try {
    let pos = start;
    for (let i = 1; ; i++) {
      const chunk = await reading;
      if (chunk === null) break;
      pos += chunk.length;
      if (slices.length > 1) {
        reading = pos < end ? read(slices[i % 2], pos) : Promise.resolve(null);
        await write(chunk);
      } else {
        reading = Promise.resolve(null);
        await write(chunk);
        if (pos < end) reading = read(slices[0], pos);
      }
    }
    clean = true;
  } finally {
    out.off('close', closeListener);
    await reading.catch(() => null);
    for (const s of slices) giveSlice(s, clean);
  }
}
