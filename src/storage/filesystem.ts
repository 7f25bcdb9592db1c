/** The `filesystem` driver: paths under `rootdirectory`, byte-compatible with Distribution's. */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { InvalidOffsetError, PathNotFoundError, type FileInfo, type StorageDriver } from './driver.js';

export interface FilesystemOptions {
  rootdirectory: string;
}

const READ_CHUNK = 1024 * 1024;

// The small-file calls on the hot paths (a tag or link read per manifest GET, stats per HEAD and upload) use
// the callback API: fs/promises' readFile goes through a FileHandle with a round trip per open, fstat, read and
// close, and measured 3x slower than fs.readFile for a 71-byte link file (stat: 1.5-2x). Same syscalls, same errors.
const readFile = promisify(fs.readFile);
const writeFile = promisify(fs.writeFile);
const stat = promisify(fs.stat);

function notFoundCode(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly root: string;

  constructor(opts: FilesystemOptions) {
    this.root = opts.rootdirectory;
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

  getContent(path: string): Promise<Buffer> {
    return this.wrap(path, () => readFile(this.full(path)));
  }

  async putContent(path: string, data: Buffer): Promise<void> {
    const target = this.full(path);
    const tmp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
    await mkdir(dirname(target), { recursive: true });
    try {
      await writeFile(tmp, data);
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
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

  async append(path: string, source: AsyncIterable<Buffer>): Promise<number> {
    const target = this.full(path);
    await mkdir(dirname(target), { recursive: true });
    let before: number | null = null;
    try {
      before = (await stat(target)).size;
    } catch (err) {
      if (!notFoundCode(err)) throw err;
    }
    const out = createWriteStream(target, { flags: 'a', highWaterMark: READ_CHUNK });
    try {
      await pipeline(source, out);
    } catch (err) {
      // All or nothing: back to the previous size, or no file when there was none.
      await (before === null ? rm(target, { force: true }) : truncate(target, before)).catch(() => undefined);
      throw err;
    }
    before ??= 0;
    return before + out.bytesWritten;
  }

  async stat(path: string): Promise<FileInfo> {
    const st = await this.wrap(path, () => stat(this.full(path)));
    return { path, size: st.isDirectory() ? 0 : st.size, modTime: st.mtime, isDir: st.isDirectory(), version: `${st.ino}:${st.size}:${st.mtimeMs}` };
  }

  async list(path: string): Promise<string[]> {
    const names = await this.wrap(path, () => readdir(this.full(path)));
    const base = path === '/' ? '' : path;
    return names.filter((n) => !n.includes('.tmp-')).map((n) => `${base}/${n}`);
  }

  async move(src: string, dst: string): Promise<void> {
    const target = this.full(dst);
    await mkdir(dirname(target), { recursive: true });
    await this.wrap(src, () => rename(this.full(src), target));
  }

  async delete(path: string): Promise<void> {
    await this.stat(path);
    await rm(this.full(path), { recursive: true, force: true });
  }

  async redirectURL(): Promise<string | null> {
    return null;
  }
}
