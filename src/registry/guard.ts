/**
 * What the client-facing stores allow: `storage.maintenance.readonly` refuses every write, `storage.delete.enabled`
 * false refuses deletes (both UNSUPPORTED, as Distribution answers). The server's own upkeep (the pull-through
 * cache filling, cache expiry, cleanup runs) works through unguarded stores (Registry.upkeep).
 */
import { Unsupported } from './errors.js';

export interface WriteGuard {
  readOnly: boolean;
  deleteEnabled: boolean;
}

export const UNGUARDED: WriteGuard = Object.freeze({ readOnly: false, deleteEnabled: true });

export function checkWrite(guard: WriteGuard): void {
  if (guard.readOnly) throw new Unsupported(undefined, 'the registry is in read-only mode');
}

export function checkDelete(guard: WriteGuard): void {
  checkWrite(guard);
  if (!guard.deleteEnabled) throw new Unsupported();
}
