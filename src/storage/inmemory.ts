/** The `inmemory` driver: for tests and throw-away registries; everything is lost on exit. */
import { Readable } from 'node:stream';
import { InvalidOffsetError, PathNotFoundError, type FileInfo, type StorageDriver } from './driver.js';

interface Entry {
  data: Buffer;
  modTime: Date;
}

export class InMemoryDriver implements StorageDriver {
  readonly name = 'inmemory';
  private readonly files = new Map<string, Entry>();

  private isDir(path: string): boolean {
    const prefix = path === '/' ? '/' : `${path}/`;
    for (const k of this.files.keys()) if (k.startsWith(prefix)) return true;
    return false;
  }

  private file(path: string): Entry {
    const e = this.files.get(path);
    if (!e) throw new PathNotFoundError(path);
    return e;
  }

  async getContent(path: string): Promise<Buffer> {
    return Buffer.from(this.file(path).data);
  }

  async putContent(path: string, data: Buffer): Promise<void> {
    this.files.set(path, { data: Buffer.from(data), modTime: new Date() });
  }

  async reader(path: string, offset = 0, end?: number): Promise<Readable> {
    const { data } = this.file(path);
    if (offset > data.length) throw new InvalidOffsetError(path, offset);
    return Readable.from([data.subarray(offset, Math.min(end ?? data.length, data.length))]);
  }

  async append(path: string, source: AsyncIterable<Buffer>): Promise<number> {
    const before = this.files.get(path)?.data ?? Buffer.alloc(0);
    const parts: Buffer[] = [before];
    for await (const chunk of source) parts.push(Buffer.from(chunk));
    const data = Buffer.concat(parts);
    this.files.set(path, { data, modTime: new Date() });
    return data.length;
  }

  async stat(path: string): Promise<FileInfo> {
    const e = this.files.get(path);
    if (e) return { path, size: e.data.length, modTime: e.modTime, isDir: false };
    if (this.isDir(path)) return { path, size: 0, modTime: new Date(0), isDir: true };
    throw new PathNotFoundError(path);
  }

  async list(path: string): Promise<string[]> {
    const prefix = path === '/' ? '/' : `${path}/`;
    const children = new Set<string>();
    for (const k of this.files.keys()) {
      if (!k.startsWith(prefix)) continue;
      children.add(prefix + k.slice(prefix.length).split('/')[0]);
    }
    if (children.size === 0 && path !== '/') throw new PathNotFoundError(path);
    return [...children];
  }

  async move(src: string, dst: string): Promise<void> {
    const e = this.file(src);
    this.files.delete(src);
    this.files.set(dst, { data: e.data, modTime: new Date() });
  }

  async delete(path: string): Promise<void> {
    if (this.files.delete(path)) return;
    const prefix = `${path}/`;
    let found = false;
    for (const k of [...this.files.keys()]) {
      if (k.startsWith(prefix)) {
        this.files.delete(k);
        found = true;
      }
    }
    if (!found) throw new PathNotFoundError(path);
  }

  async redirectURL(): Promise<string | null> {
    return null;
  }
}
