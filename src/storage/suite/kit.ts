/** What every part of the shared driver suite uses: the test context and the stream helpers. */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { StorageDriver } from '../driver.js';

export interface Ctx {
  /** The driver as production sees it: behind `checked()`. */
  d: StorageDriver;
  /** The driver itself, for tests of the wrapper. */
  raw: StorageDriver;
}

/** Registers one named test of the suite (skipped when the driver's skip list names it). */
export type DefineTest = (name: string, fn: (ctx: Ctx) => Promise<void>, timeout?: number) => void;

export const MiB = 1024 * 1024;

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(parts);
}

export async function* chunks(...parts: Buffer[]): AsyncGenerator<Buffer> {
  for (const p of parts) {
    await new Promise((r) => setImmediate(r));
    yield p;
  }
}

export async function* failingAfter(parts: Buffer[], error: Error): AsyncGenerator<Buffer> {
  yield* chunks(...parts);
  throw error;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
