/**
 * The one wrapper around every driver: path checks, so that no driver ever sees `..`, empty components,
 * or characters outside Distribution's path grammar.
 */
import { InvalidPathError, type StorageDriver } from './driver.js';

const PATH_RE = /^(\/[A-Za-z0-9._-]+)+$/;

export function checkPath(path: string): string {
  if (path !== '/' && (!PATH_RE.test(path) || path.split('/').some((c) => c === '.' || c === '..'))) {
    throw new InvalidPathError(path);
  }
  return path;
}

export function checked(inner: StorageDriver): StorageDriver {
  return {
    name: inner.name,
    getContent: (p) => inner.getContent(checkPath(p)),
    putContent: (p, d) => inner.putContent(checkPath(p), d),
    reader: (p, o, e) => inner.reader(checkPath(p), o, e),
    append: (p, s) => inner.append(checkPath(p), s),
    stat: (p) => inner.stat(checkPath(p)),
    list: (p) => inner.list(checkPath(p)),
    move: (s, d) => inner.move(checkPath(s), checkPath(d)),
    delete: (p) => {
      if (p === '/') throw new InvalidPathError(p);
      return inner.delete(checkPath(p));
    },
    redirectURL: (m, p) => inner.redirectURL(m, checkPath(p)),
    close: () => inner.close?.() ?? Promise.resolve(),
  };
}
