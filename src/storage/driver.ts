/**
 * The storage driver seam: bytes at paths, nothing about OCI. Paths are absolute, `/`-separated,
 * made of `[A-Za-z0-9._-]` components (checked once, in `checked()`), relative to the driver's root.
 */
import type { Readable } from 'node:stream';

export interface FileInfo {
  path: string;
  size: number;
  modTime: Date;
  isDir: boolean;
  /**
   * Changes whenever the file's content may have changed (filesystem: inode, size and mtime; a replace is a
   * rename, so a new inode). Absent when the driver cannot tell more cheaply than by reading.
   */
  version?: string;
}

/**
 * A file opened for positional reads, so that a response can be filled in large slices into buffers it reuses
 * (see http/slices.ts) instead of through a stream that allocates a new buffer per chunk.
 */
export interface ReadHandle {
  /** The file's size when it was opened. */
  readonly size: number;
  /** Reads up to `length` bytes at `position` into `into` (from its start); resolves to the count, 0 at the end. */
  read(into: Buffer, length: number, position: number): Promise<number>;
  /** Releases the file; call it exactly once, after the last read settled. */
  close(): Promise<void>;
}

export interface StorageDriver {
  readonly name: string;

  /** The whole content of a small file. Throws PathNotFoundError when missing (or a directory). */
  getContent(path: string): Promise<Buffer>;

  /** Replaces the file atomically: a concurrent reader sees the old content or the new, never a part. */
  putContent(path: string, data: Buffer): Promise<void>;

  /**
   * A stream of the file from `offset` (inclusive) to `end` (exclusive, default: end of file).
   * Throws PathNotFoundError when missing; InvalidOffsetError when offset is past the end.
   */
  reader(path: string, offset?: number, end?: number): Promise<Readable>;

  /**
   * Optional (drivers with cheap random access: filesystem): the file opened for positional reads; what a blob
   * GET uses when present. Throws PathNotFoundError when missing (or a directory).
   */
  openRead?(path: string): Promise<ReadHandle>;

  /**
   * Appends everything `source` yields to the file (created when missing) and returns the new size.
   * All or nothing: if `source` or the write fails, the file is left at its previous size and the error rethrown.
   */
  append(path: string, source: AsyncIterable<Buffer>): Promise<number>;

  /** Size, modification time and kind. Throws PathNotFoundError. */
  stat(path: string): Promise<FileInfo>;

  /** Full paths of the direct children of a directory. Throws PathNotFoundError when missing or not a directory. */
  list(path: string): Promise<string[]>;

  /** Moves a file, replacing `dst` atomically if it exists. Throws PathNotFoundError when `src` is missing. */
  move(src: string, dst: string): Promise<void>;

  /** Removes a file or a whole directory tree. Throws PathNotFoundError when missing. */
  delete(path: string): Promise<void>;

  /** A URL a client may fetch the file from directly, or null when the driver cannot presign. */
  redirectURL(method: 'GET' | 'HEAD', path: string): Promise<string | null>;

  /**
   * Removes the temporary files of writes that never finished (a crash between writing and renaming) that are
   * older than `olderThan`, or with `dryRun` only finds them; returns their paths. Only drivers whose writes can
   * leave such files behind (filesystem) implement it; `wharf garbage-collect` calls it.
   */
  sweepTemporary?(olderThan: Date, dryRun: boolean): Promise<string[]>;

  /** Releases resources (timers, connections). */
  close?(): Promise<void>;
}

export class PathNotFoundError extends Error {
  constructor(readonly path: string) {
    super(`path not found: ${path}`);
    this.name = 'PathNotFoundError';
  }
}

export class InvalidPathError extends Error {
  constructor(readonly path: string) {
    super(`invalid path: ${JSON.stringify(path)}`);
    this.name = 'InvalidPathError';
  }
}

export class InvalidOffsetError extends Error {
  constructor(
    readonly path: string,
    readonly offset: number,
  ) {
    super(`invalid offset ${offset} for ${path}`);
    this.name = 'InvalidOffsetError';
  }
}

/** The backend cannot be reached or keeps failing (after the driver's own retries): answered as 503 UNAVAILABLE. */
export class StorageUnavailableError extends Error {
  constructor(
    readonly driver: string,
    readonly reason: unknown,
  ) {
    // The backend's own error stays reachable as `cause` (logs show it); `reason` is the same, kept for callers.
    super(`storage ${driver} unavailable: ${(reason as Error)?.message ?? String(reason)}`, { cause: reason });
    this.name = 'StorageUnavailableError';
  }
}

/**
 * The backend refuses a write for lack of space or quota (`full`: ENOSPC, EDQUOT, S3 507 or QuotaExceeded) or
 * because it is read-only or refuses writes (`readonly`: EROFS, S3 403 on a write). Answered as 503 UNAVAILABLE
 * saying so; reads keep working.
 */
export class StorageFullError extends StorageUnavailableError {
  constructor(
    driver: string,
    reason: unknown,
    readonly kind: 'full' | 'readonly',
  ) {
    super(driver, reason);
    this.name = 'StorageFullError';
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof PathNotFoundError;
}
