/**
 * The one wrapper around every driver: path checks, so that no driver ever sees `..`, empty components,
 * or characters outside Distribution's path grammar. As in Distribution, the root `/` is a valid argument of
 * `stat` and `list` only. A refused path rejects the returned promise; it never throws synchronously.
 */
import { InvalidPathError, type StorageDriver } from './driver.js';

const PATH_RE = /^(\/[A-Za-z0-9._-]+)+$/;

export function checkPath(path: string, allowRoot = false): string {
  if (allowRoot && path === '/') return path;
  if (!PATH_RE.test(path) || path.split('/').some((c) => c === '.' || c === '..')) {
    throw new InvalidPathError(path);
  }
  return path;
}

export function checked(inner: StorageDriver): StorageDriver {
  return {
    name: inner.name,
    getContent: async (p) => inner.getContent(checkPath(p)),
    putContent: async (p, d) => inner.putContent(checkPath(p), d),
    reader: async (p, o, e) => inner.reader(checkPath(p), o, e),
    openRead: inner.openRead && (async (p) => inner.openRead!(checkPath(p))),
    append: async (p, s) => inner.append(checkPath(p), s),
    stat: async (p) => inner.stat(checkPath(p, true)),
    list: async (p) => inner.list(checkPath(p, true)),
    move: async (s, d) => inner.move(checkPath(s), checkPath(d)),
    delete: async (p) => inner.delete(checkPath(p)),
    redirectURL: async (m, p) => inner.redirectURL(m, checkPath(p)),
    sweepTemporary: inner.sweepTemporary && ((t, dry) => inner.sweepTemporary!(t, dry)),
    close: () => inner.close?.() ?? Promise.resolve(),
  };
}
