/**
 * The catalog: every repository that has manifests (a `_manifests` directory under `repositories/`), in lexical
 * order. Distribution walks the whole tree on every request; wharf keeps the list (built on first use), adds what
 * this process pushes at once, and revalidates it against storage in the background when it is older than
 * `revalidateMs`, so that what another process (a replica, garbage collection, docker-registry on the same
 * directory) added or removed shows up (see list()).
 *
 * Revalidation is cheaper where directories have versions (filesystem: inode, size and mtime change when an entry
 * is added or removed): one stat per directory of the tree, and a listing only of those that changed (2,000
 * repositories: about 45 ms against 150 ms for a walk). Elsewhere (S3, where "directories" are key prefixes) it
 * is a full walk. One runs at a time.
 */
import type { StorageDriver } from '../storage/driver.js';
import { mapLimit } from '../storage/maplimit.js';
import { orIfNotFound, statOrNull } from '../storage/notfound.js';
import { basename } from './paths.js';
import { joinName as join, treePath, walkTree, WALK_CONCURRENCY as CONCURRENCY } from './walk.js';

/** One directory of the tree below `repositories/` (not the `_`-prefixed ones inside a repository). */
interface Dir {
  /** The driver's version of the directory when it was listed (undefined: the driver has none). */
  version?: string;
  /** Names of its entries that may be directories of the tree (not starting with `_`). */
  children: string[];
  /** Whether it holds `_manifests`: it is a repository. */
  repository: boolean;
}

export class RepositoryIndex {
  /** Repository-name prefix ('' for `repositories/` itself) -> what was seen there. */
  private readonly dirs = new Map<string, Dir>();
  private sorted: string[] | null = null;
  /** When the last refresh started (what the list reflects) and finished. */
  private checkedAt = 0;
  private finishedAt = 0;
  private running: Promise<void> | null = null;
  /** Whether directories have versions (decided on the first walk). */
  private versioned = false;
  /** Repositories added while a refresh runs: it may have passed their directory already. */
  private readonly addedMeanwhile = new Set<string>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly revalidateMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Every repository, sorted; the array is shared: do not modify it. A list older than `revalidateMs` is answered
   * and revalidated in the background. Where revalidation is cheap (versioned directories), a request that comes
   * more than twice that after the last one finished (nobody asked for a while) waits for it instead. So under
   * steady use no request waits, and a change by another process is seen within about two intervals (on S3, plus
   * the length of one walk).
   */
  async list(): Promise<readonly string[]> {
    const now = this.now();
    if (this.sorted === null || (this.versioned && now - this.finishedAt >= 2 * this.revalidateMs))
      await this.refresh();
    else if (now - this.checkedAt >= this.revalidateMs) void this.refresh().catch(() => undefined);
    return this.sorted ?? [];
  }

  /** Records a repository this process just gave a manifest (its `_manifests` now exists). */
  added(name: string): void {
    if (this.running) this.addedMeanwhile.add(name);
    if (this.sorted === null) return;
    const i = lowerBound(this.sorted, name);
    if (this.sorted[i] !== name) this.sorted = [...this.sorted.slice(0, i), name, ...this.sorted.slice(i)];
  }

  /** The list as of now or later: waits for a refresh that starts after this call. */
  async fresh(): Promise<readonly string[]> {
    await this.running?.catch(() => undefined);
    await this.refresh();
    return this.sorted ?? [];
  }

  /** Runs one walk or revalidation, or joins the one in flight. */
  refresh(): Promise<void> {
    this.running ??= (async () => {
      const started = this.now();
      try {
        if (this.dirs.size === 0 || !this.versioned) {
          this.dirs.clear();
          await this.walk(['']);
        } else {
          await this.revalidate();
        }
        const names = new Set([...this.dirs].filter(([, d]) => d.repository).map(([name]) => name));
        for (const name of this.addedMeanwhile) names.add(name);
        this.sorted = [...names].sort();
        this.checkedAt = started;
        this.finishedAt = this.now();
      } finally {
        this.addedMeanwhile.clear();
        this.running = null;
      }
    })();
    return this.running;
  }

  /** Lists each of `prefixes` and everything below them into `dirs`, level by level (CONCURRENCY at a time). */
  private walk(prefixes: string[]): Promise<void> {
    return walkTree(prefixes, (prefix) => this.listOne(prefix), CONCURRENCY);
  }

  /** Lists one directory into `dirs`; returns its children that are new (to be listed next). */
  private async listOne(prefix: string): Promise<string[]> {
    const path = treePath(prefix);
    // Stat before listing: a change in between leaves a new version for the next revalidation to see. Without
    // versions (known from the root), a stat would only cost requests (S3: three per directory).
    const st = prefix === '' || this.versioned ? await statOrNull(this.driver, path) : undefined;
    const listed = st === null ? null : await orIfNotFound(this.driver.list(path), null);
    if (listed === null) {
      this.forget(prefix);
      return [];
    }
    const names = listed.map(basename);
    const version = st?.version;
    if (prefix === '') this.versioned = version !== undefined;
    const old = this.dirs.get(prefix);
    const children = names.filter((n) => !n.startsWith('_'));
    this.dirs.set(prefix, { version, children, repository: prefix !== '' && names.includes('_manifests') });
    for (const gone of old?.children ?? []) if (!children.includes(gone)) this.forget(join(prefix, gone));
    return children.map((n) => join(prefix, n)).filter((c) => !this.dirs.has(c));
  }

  /** Stats every known directory; re-lists those whose version changed (which walks what is new below them). */
  private async revalidate(): Promise<void> {
    const changed: string[] = [];
    await mapLimit([...this.dirs.keys()], CONCURRENCY, async (prefix) => {
      const dir = this.dirs.get(prefix);
      if (!dir) return;
      const st = await statOrNull(this.driver, treePath(prefix));
      if (!st) this.forget(prefix);
      else if (st.version !== dir.version || !st.isDir) changed.push(prefix);
    });
    // Parents first: a re-listed parent forgets the children it lost, which then need no listing of their own.
    changed.sort((a, b) => a.split('/').length - b.split('/').length);
    for (const prefix of changed) if (this.dirs.has(prefix)) await this.walk([prefix]);
  }

  /** Drops `prefix` and everything below it. */
  private forget(prefix: string): void {
    const dir = this.dirs.get(prefix);
    if (!dir) return;
    this.dirs.delete(prefix);
    for (const c of dir.children) this.forget(join(prefix, c));
  }
}

/** The first index whose entry is >= `key` (sorted.length when none). */
function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One page of a sorted list: entries after `last` that `keep` accepts, at most `n`; `more` tells whether a next
 * page exists. Finds `last` by binary search and reads only as far as the page needs, so a page costs the same
 * wherever it starts.
 */
export function page(
  sorted: readonly string[],
  n: number,
  last?: string,
  keep: (item: string) => boolean = () => true,
): { items: string[]; more: boolean } {
  let i = last ? lowerBound(sorted, last) : 0;
  if (last && sorted[i] === last) i++;
  const items: string[] = [];
  for (; i < sorted.length; i++) {
    if (!keep(sorted[i])) continue;
    if (items.length === n) return { items, more: true };
    items.push(sorted[i]);
  }
  return { items, more: false };
}
