/** The `filesystem` driver: paths under `rootdirectory`, byte-compatible with Distribution's. */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { createWriteStream } from 'node:fs';
import { open, readdir, rm } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import {
  InvalidOffsetError,
  PathNotFoundError,
  StorageFullError,
  type FileInfo,
  type ReadHandle,
  type StorageDriver,
} from './driver.js';

export interface FilesystemOptions {
  rootdirectory: string;
  /**
   * `storage.filesystem.fsync` (a wharf key; Distribution always does this): flush every file to disk before it
   * is renamed into place, and the directory after, so that what was acknowledged survives a power loss.
   */
  fsync?: boolean;
}

const READ_CHUNK = 1024 * 1024;
/** The names putContent writes before renaming: `<name>.tmp-<12 hex>`. */
const TEMPORARY_RE = /\.tmp-[0-9a-f]{12}$/;
/** Bound on the directory hints (about 200 bytes each); past it they are forgotten and relearnt. */
const MAX_KNOWN_DIRS = 20_000;

// Every call below is one trip through libuv's thread pool, and on a small VM each trip costs the event loop tens
// of microseconds however cheap the syscall: a small push is a few dozen of them, so the code counts them. The
// callback API is used because fs/promises goes through a FileHandle with a trip per open, fstat, read and close
// (readFile of a 71-byte link measured 3x slower). Same syscalls, same errors.
const readFile = promisify(fs.readFile);
const writeFile = promisify(fs.writeFile);
const stat = promisify(fs.stat);
const mkdir = promisify(fs.mkdir);
const rename = promisify(fs.rename);
const unlink = promisify(fs.unlink);
const rmdir = promisify(fs.rmdir);
const fopen = promisify(fs.open);
const fstat = promisify(fs.fstat);
const truncate = promisify(fs.truncate);
const fclose = promisify(fs.close);
const fsyncFd = promisify(fs.fsync);

/** fs.read resolving to the byte count only (promisify would build an object per read). */
function readAt(fd: number, into: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.read(fd, into, 0, length, position, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** A write refused by the file system for space, quota or a read-only mount, as the driver-neutral error. */
function refusal(err: unknown): unknown {
  const code = codeOf(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return new StorageFullError('filesystem', err, 'full');
  if (code === 'EROFS') return new StorageFullError('filesystem', err, 'readonly');
  return err;
}

/** Runs a write; a refusal for space or permission becomes StorageFullError. */
async function writing<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw refusal(err);
  }
}

function notFoundCode(err: unknown): boolean {
  const code = codeOf(err);
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly root: string;
  /**
   * Directories this process saw exist, so that a write need not mkdir first. Only a hint: a directory removed
   * behind our back (another process, garbage collection) makes the write fail with ENOENT, and it is retried
   * after creating the directory.
   */
  private readonly dirs = new Set<string>();

  private readonly fsync: boolean;

  constructor(opts: FilesystemOptions) {
    this.root = opts.rootdirectory;
    this.fsync = opts.fsync ?? false;
  }

  /** Makes the entries of `dir` (a rename into it) durable; with `fsync` only. */
  private async syncDir(dir: string): Promise<void> {
    if (!this.fsync) return;
    const fd = await fopen(dir, 'r');
    try {
      await fsyncFd(fd);
    } finally {
      await fclose(fd);
    }
  }

  private full(path: string): string {
    return join(this.root, path);
  }

  private async wrap<T>(path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (notFoundCode(err)) throw new PathNotFoundError(path);
      throw err;
    }
  }

  /** Records `dir` and its ancestors (up to the root) as existing. */
  private known(dir: string): void {
    if (this.dirs.size > MAX_KNOWN_DIRS) this.dirs.clear();
    for (let d = dir; d.length > this.root.length && !this.dirs.has(d); d = dirname(d)) this.dirs.add(d);
  }

  /**
   * Creates `dir` and its missing parents, starting below the deepest ancestor known to exist: a new tag's
   * `index/sha256/<hex>` costs one mkdir per new level and no failed attempts. Falls back to a recursive mkdir
   * from the top when the hint was stale. Returns the directories it created, outermost first; when it fails
   * (a full disk), those it had created are removed again.
   */
  private async ensureDir(dir: string): Promise<string[]> {
    if (this.dirs.has(dir)) return [];
    const missing: string[] = [];
    let d = dir;
    while (d.length > this.root.length && !this.dirs.has(d)) {
      missing.push(d);
      d = dirname(d);
    }
    missing.reverse();
    const created: string[] = [];
    try {
      if (d.length <= this.root.length) {
        // Nothing known (a cold start): one recursive mkdir, which returns the first directory it made.
        const first = await fs.promises.mkdir(dir, { recursive: true });
        if (first !== undefined) created.push(...missing.filter((m) => m.length >= first.length));
      } else {
        try {
          for (const m of missing) {
            await mkdir(m).then(
              () => created.push(m),
              (err) => {
                if (codeOf(err) !== 'EEXIST') throw err;
              },
            );
          }
        } catch (err) {
          if (codeOf(err) !== 'ENOENT') throw err;
          this.dirs.delete(d);
          const first = await fs.promises.mkdir(dir, { recursive: true });
          if (first !== undefined)
            created.push(...missing.filter((m) => m.length >= first.length && !created.includes(m)));
        }
      }
    } catch (err) {
      await this.removeCreated(created);
      throw err;
    }
    this.known(dir);
    return created;
  }

  /** Removes directories a failed write created (outermost first in `created`), while they are still empty. */
  private async removeCreated(created: string[]): Promise<void> {
    for (const c of [...created].reverse()) {
      this.dirs.delete(c);
      // ENOTEMPTY: another writer uses it now; it stays.
      if (
        !(await rmdir(c).then(
          () => true,
          () => false,
        ))
      )
        break;
    }
  }

  /**
   * Runs `fn`, which writes into `dir`; if `dir` vanished meanwhile (ENOENT), recreates it and runs `fn` once more.
   * When `fn` fails, the directories created for it are removed again: a failed write leaves nothing visible.
   */
  private async inDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
    const created = await this.ensureDir(dir);
    try {
      return await fn();
    } catch (err) {
      if (codeOf(err) !== 'ENOENT') {
        await this.removeCreated(created);
        throw err;
      }
      this.dirs.delete(dir);
      const again = await this.ensureDir(dir);
      try {
        return await fn();
      } catch (err2) {
        await this.removeCreated(again);
        await this.removeCreated(created);
        throw err2;
      }
    }
  }

  getContent(path: string): Promise<Buffer> {
    return this.wrap(path, () => readFile(this.full(path)));
  }

  async putContent(path: string, data: Buffer): Promise<void> {
    const target = this.full(path);
    const tmp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
    await writing(() =>
      this.inDir(dirname(target), async () => {
        try {
          await writeFile(tmp, data, { flush: this.fsync });
          await rename(tmp, target);
        } catch (err) {
          // A partly written temporary file (a full disk) is removed at once, not left for garbage collection.
          await rm(tmp, { force: true }).catch(() => undefined);
          throw err;
        }
      }),
    );
    await writing(() => this.syncDir(dirname(target)));
  }

  async reader(path: string, offset = 0, end?: number): Promise<Readable> {
    const fh = await this.wrap(path, () => open(this.full(path), 'r'));
    try {
      const st = await fh.stat();
      if (st.isDirectory()) throw new PathNotFoundError(path);
      if (offset > st.size) throw new InvalidOffsetError(path, offset);
      const last = Math.min(end ?? st.size, st.size) - 1;
      if (last < offset) {
        await fh.close();
        return Readable.from([]);
      }
      return fh.createReadStream({ start: offset, end: last, highWaterMark: READ_CHUNK, autoClose: true });
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** open + fstat, then one fs.read per slice on the descriptor: three thread-pool trips plus one per slice. */
  async openRead(path: string): Promise<ReadHandle> {
    const fd = await this.wrap(path, () => fopen(this.full(path), 'r'));
    let size: number;
    try {
      const st = await fstat(fd);
      if (st.isDirectory()) throw new PathNotFoundError(path);
      size = st.size;
    } catch (err) {
      await fclose(fd);
      throw err;
    }
    let closed = false;
    return {
      size,
      read: (into, length, position) => readAt(fd, into, length, position),
      close: async () => {
        if (closed) return;
        closed = true;
        await fclose(fd);
      },
    };
  }

  append(path: string, source: AsyncIterable<Buffer>): Promise<number> {
    return writing(() => this.appendFile(path, source));
  }

  private async appendFile(path: string, source: AsyncIterable<Buffer>): Promise<number> {
    const target = this.full(path);
    // Creating exclusively tells a new file (size 0, removed again on failure) from an existing one in one call.
    let created = true;
    const fd = await this.inDir(dirname(target), () => fopen(target, 'ax')).catch(async (err) => {
      if (codeOf(err) !== 'EEXIST') throw err;
      created = false;
      return fopen(target, 'a');
    });
    let before = 0;
    try {
      if (!created) before = (await fstat(fd)).size;
    } catch (err) {
      await fclose(fd);
      throw err;
    }
    // The stream owns the descriptor from here and has closed it by the time pipeline() settles.
    const out = createWriteStream(target, { fd, highWaterMark: READ_CHUNK, flush: this.fsync });
    try {
      await pipeline(source, out);
    } catch (err) {
      // All or nothing: back to the previous size, or no file when there was none.
      await (created ? rm(target, { force: true }) : truncate(target, before)).catch(() => undefined);
      throw err;
    }
    return before + out.bytesWritten;
  }

  async stat(path: string): Promise<FileInfo> {
    const st = await this.wrap(path, () => stat(this.full(path)));
    return {
      path,
      size: st.isDirectory() ? 0 : st.size,
      modTime: st.mtime,
      isDir: st.isDirectory(),
      version: `${st.ino}:${st.size}:${st.mtimeMs}`,
    };
  }

  async list(path: string): Promise<string[]> {
    const names = await this.wrap(path, () => readdir(this.full(path)));
    const base = path === '/' ? '' : path;
    return names.filter((n) => !n.includes('.tmp-')).map((n) => `${base}/${n}`);
  }

  async move(src: string, dst: string): Promise<void> {
    const target = this.full(dst);
    const from = this.full(src);
    try {
      await this.inDir(dirname(target), () => rename(from, target));
      await this.syncDir(dirname(target));
    } catch (err) {
      // ENOENT here means the source is missing: inDir already recreated the destination's directory.
      if (notFoundCode(err)) throw new PathNotFoundError(src);
      throw refusal(err);
    }
  }

  /**
   * A directory of files (an upload, a link's directory: what the registry deletes) is one listing, the unlinks
   * and one rmdir; a file is a failed listing and one unlink. Anything deeper, or changing while we delete it,
   * goes to a recursive rm. Hints for directories below `path` stay: a stale one only costs a retry.
   */
  delete(path: string): Promise<void> {
    return writing(() => this.deleteTree(path));
  }

  private async deleteTree(path: string): Promise<void> {
    const target = this.full(path);
    let entries: fs.Dirent[];
    try {
      entries = await readdir(target, { withFileTypes: true });
    } catch (err) {
      if (codeOf(err) !== 'ENOTDIR') throw notFoundCode(err) ? new PathNotFoundError(path) : err;
      await this.wrap(path, () => unlink(target));
      return;
    }
    this.dirs.delete(target);
    try {
      if (entries.some((e) => e.isDirectory())) throw new Error('nested');
      await Promise.all(entries.map((e) => unlink(join(target, e.name))));
      await rmdir(target);
    } catch {
      await rm(target, { recursive: true, force: true });
    }
  }

  async redirectURL(): Promise<string | null> {
    return null;
  }

  /** A walk of the whole tree for putContent's `<name>.tmp-<hex>` files (an upload's `data` is purged with its session). */
  async sweepTemporary(olderThan: Date, dryRun: boolean): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (notFoundCode(err)) return;
        throw err;
      }
      for (const e of entries) {
        const full = join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (TEMPORARY_RE.test(e.name)) {
          const st = await stat(full).catch(() => null);
          if (!st || st.mtime >= olderThan) continue;
          if (!dryRun) await unlink(full).catch((err) => (codeOf(err) === 'ENOENT' ? undefined : Promise.reject(err)));
          found.push(full.slice(this.root.length).split(sep).join('/'));
        }
      }
    };
    await walk(this.root);
    return found.sort();
  }
}
