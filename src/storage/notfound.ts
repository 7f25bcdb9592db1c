/**
 * "Missing is an answer, not a failure": the driver throws PathNotFoundError for an absent path; these helpers
 * turn that one error into a value and let every other error through. Use them instead of a try/catch around
 * `isNotFound`.
 */
import { isNotFound, type FileInfo, type StorageDriver } from './driver.js';

/** The value of `p`, or `fallback` when it rejects with PathNotFoundError. */
export async function orIfNotFound<T, F>(p: Promise<T>, fallback: F): Promise<T | F> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return fallback;
    throw err;
  }
}

/** Awaits `p`; a PathNotFoundError (already gone) counts as done. */
export async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  await orIfNotFound(p, undefined);
}

/** The directory's children (full paths); [] when it does not exist. */
export function listOrEmpty(driver: StorageDriver, path: string): Promise<string[]> {
  return orIfNotFound(driver.list(path), []);
}

/** The file's information; null when it does not exist. */
export function statOrNull(driver: StorageDriver, path: string): Promise<FileInfo | null> {
  return orIfNotFound(driver.stat(path), null);
}

/** A small file's content; null when it does not exist. */
export function contentOrNull(driver: StorageDriver, path: string): Promise<Buffer | null> {
  return orIfNotFound(driver.getContent(path), null);
}
