/**
 * Times every driver operation into the storage histogram; errors are counted with outcome="error" (not-found is
 * "notfound"). Writes also feed `writes` (see writestate.ts): any write refused for space or permission sets it;
 * a putContent that succeeds (it always stores bytes, unlike an empty append or a rename) clears it.
 */
import type { Metrics } from '../metrics.js';
import { isNotFound, type StorageDriver } from './driver.js';
import type { StorageWriteState } from './writestate.js';

export function instrumented(inner: StorageDriver, metrics: Metrics, writes?: StorageWriteState): StorageDriver {
  const h = metrics.storage;
  const timed =
    <A extends unknown[], R>(action: string, fn: (...a: A) => Promise<R>, write: 'sets' | 'clears' | null = null) =>
    async (...args: A): Promise<R> => {
      const end = h.startTimer({ driver: inner.name, action });
      try {
        const r = await fn(...args);
        end({ outcome: 'ok' });
        if (write === 'clears') writes?.note(null);
        return r;
      } catch (err) {
        end({ outcome: isNotFound(err) ? 'notfound' : 'error' });
        if (write !== null) writes?.note(err);
        throw err;
      }
    };
  return {
    name: inner.name,
    getContent: timed('getcontent', (p) => inner.getContent(p)),
    putContent: timed('putcontent', (p, d) => inner.putContent(p, d), 'clears'),
    reader: timed('reader', (p, o, e) => inner.reader(p, o, e)),
    openRead: inner.openRead && timed('reader', (p: string) => inner.openRead!(p)),
    append: timed('append', (p, s) => inner.append(p, s), 'sets'),
    stat: timed('stat', (p) => inner.stat(p)),
    list: timed('list', (p) => inner.list(p)),
    move: timed('move', (s, d) => inner.move(s, d), 'sets'),
    delete: timed('delete', (p) => inner.delete(p)),
    redirectURL: timed('redirecturl', (m, p) => inner.redirectURL(m, p)),
    sweepTemporary: inner.sweepTemporary && ((t, dry) => inner.sweepTemporary!(t, dry)),
    close: () => inner.close?.() ?? Promise.resolve(),
  };
}
