/**
 * Sends bytes [start, end) of a file to a response in large slices read into reused buffers: the next slice is
 * read while the previous ones are being written, and a buffer is reused only once the socket has taken it (its
 * write callback). Against the stream pipeline it replaces (a new buffer per read, one read ahead), this is
 * what brought a blob GET near Distribution's sendfile(2) on an idle machine (docs/performance.md): no
 * allocation, page faults or collector work per chunk, and no stream machinery between the file and the socket.
 *
 * Memory is bounded: at most DEPTH slices per response, and at most POOL_BYTES of full-size slices in use across
 * all responses; past that, responses get small slices allocated for them (slower, never unbounded).
 */
import type { ReadHandle } from '../storage/driver.js';

/** The read size: 1 MiB reads keep the thread pool trip (~20 us of event-loop time) under 1% of the transfer. */
export const SLICE_BYTES = 1024 * 1024;
/**
 * Slices per response: one being read while the others are written. Two writes in flight keep the socket fed
 * while the next write is prepared (over TLS, encrypted), instead of letting it drain between callbacks.
 */
const DEPTH = 3;
/** Full-size slices in use at once, across responses (16 concurrent full-speed pulls). */
const POOL_BYTES = 16 * DEPTH * SLICE_BYTES;
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

/** The part of a response this needs: Node's ServerResponse, Http2ServerResponse. */
export interface SliceSink {
  write(chunk: Buffer, cb: (err?: Error | null) => void): boolean;
  once(event: 'close', fn: () => void): unknown;
  off(event: 'close', fn: () => void): unknown;
}

/**
 * Writes [start, end) of `file` to `out`; resolves when the last slice was handed to the socket (the caller ends
 * the response). Rejects when the response closes first (client gone), a write or read fails, or the file is
 * shorter than `end`. Never closes `file`.
 */
export async function sendSlices(file: ReadHandle, out: SliceSink, start: number, end: number): Promise<void> {
  if (start >= end) return;
  // A response whose connection is gone may never call its write callbacks: closing settles them instead.
  const pending = new Set<(err: Error) => void>();
  let closed = false;
  const closeListener = () => {
    closed = true;
    for (const fail of [...pending]) fail(new Error('response closed'));
  };
  out.once('close', closeListener);
  // Marked handled at once: a write may fail while another slice is read; its slot awaits it later.
  const write = (chunk: Buffer): Promise<void> => {
    const p = new Promise<void>((resolve, reject) => {
      if (closed) return reject(new Error('response closed'));
      const settle = (err?: Error | null) => {
        pending.delete(settle);
        if (err) reject(err);
        else resolve();
      };
      pending.add(settle);
      out.write(chunk, settle);
    });
    p.catch(() => undefined);
    return p;
  };

  const slots: Array<{ buf: Buffer; writing: Promise<void> | null }> = [];
  let clean = false;
  try {
    for (let pos = start, i = 0; pos < end; i++) {
      let slot = slots[i % DEPTH];
      if (!slot) slots.push((slot = { buf: takeSlice(), writing: null }));
      if (slot.writing) await slot.writing;
      const n = await file.read(slot.buf, Math.min(slot.buf.length, end - pos), pos);
      if (n === 0) throw new Error(`file ended at ${pos} of ${end}`);
      slot.writing = write(slot.buf.subarray(0, n));
      pos += n;
    }
    for (const slot of slots) await slot.writing;
    clean = true;
  } finally {
    out.off('close', closeListener);
    for (const slot of slots) giveSlice(slot.buf, clean);
  }
}
