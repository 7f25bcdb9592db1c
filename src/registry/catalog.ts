/** The catalog: every repository that has manifests, found by walking `repositories/`, in lexical order. */
import { isNotFound, type StorageDriver } from '../storage/driver.js';
import { basename, REPOSITORIES } from './paths.js';

export async function listRepositories(driver: StorageDriver): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, prefix: string): Promise<void> {
    let entries: string[];
    try {
      entries = await driver.list(dir);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    const names = entries.map(basename);
    if (prefix !== '' && names.includes('_manifests')) out.push(prefix);
    await Promise.all(
      names.filter((n) => !n.startsWith('_')).map((n) => walk(`${dir}/${n}`, prefix === '' ? n : `${prefix}/${n}`)),
    );
  }
  await walk(REPOSITORIES, '');
  return out.sort();
}

/** One page of a sorted list: entries after `last`, at most `n`; `more` tells whether a next page exists. */
export function page(sorted: string[], n: number, last?: string): { items: string[]; more: boolean } {
  const rest = last ? sorted.filter((x) => x > last) : sorted;
  return { items: rest.slice(0, n), more: rest.length > n };
}
