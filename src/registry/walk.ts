/**
 * The one walker of the repository tree (`repositories/`): directories whose names do not start with `_` are
 * namespaces or repositories; a directory holding `_manifests`, `_layers` or `_uploads` is a repository. Walked
 * level by level, a bounded number of directories at a time (S3: below the SDK's 50 sockets).
 */
import type { StorageDriver } from '../storage/driver.js';
import { mapLimit } from '../storage/maplimit.js';
import { listOrEmpty } from '../storage/notfound.js';
import { basename, REPOSITORIES } from './paths.js';

/** Directories listed at once during a walk. */
export const WALK_CONCURRENCY = 16;

/** `prefix/name`, or `name` at the root ('' is `repositories/` itself). */
export const joinName = (prefix: string, name: string) => (prefix === '' ? name : `${prefix}/${name}`);

/** The storage path of a tree prefix ('' is `repositories/`). */
export const treePath = (prefix: string) => (prefix === '' ? REPOSITORIES : `${REPOSITORIES}/${prefix}`);

/**
 * Visits `roots` and everything below them, level by level. `visit` looks at one prefix and returns the child
 * prefixes to descend into.
 */
export async function walkTree(
  roots: string[],
  visit: (prefix: string) => Promise<string[]>,
  concurrency = WALK_CONCURRENCY,
): Promise<void> {
  for (let level = roots; level.length > 0;) {
    level = (await mapLimit(level, concurrency, visit)).flat();
  }
}

/**
 * Every repository directory with its entries' names, sorted by name: each one holding an `_`-prefixed entry
 * (`_manifests`, `_layers` or `_uploads`), with or without manifests.
 */
export async function repositoryDirectories(
  driver: StorageDriver,
): Promise<Array<{ name: string; entries: string[] }>> {
  const out: Array<{ name: string; entries: string[] }> = [];
  await walkTree([''], async (prefix) => {
    const names = (await listOrEmpty(driver, treePath(prefix))).map(basename);
    if (prefix !== '' && names.some((n) => n.startsWith('_'))) out.push({ name: prefix, entries: names });
    return names.filter((n) => !n.startsWith('_')).map((n) => joinName(prefix, n));
  });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Every repository directory's name, sorted (see repositoryDirectories). */
export async function allRepositories(driver: StorageDriver): Promise<string[]> {
  return (await repositoryDirectories(driver)).map((r) => r.name);
}
