/**
 * Sweep: garbage collection's writes. Candidates are parked (moved to `gc-quarantine` next to `data` or `link`),
 * re-checked after the second scan, then put back or deleted; emptied directories and repositories go last.
 * `data` itself is only ever moved, never deleted, so a re-upload during the run lands in a fresh file.
 */
import type { Digest } from '../../oci/names.js';
import type { StorageDriver } from '../../storage/driver.js';
import { mapLimit } from '../../storage/maplimit.js';
import { ignoreNotFound, listOrEmpty, orIfNotFound, statOrNull } from '../../storage/notfound.js';
import {
  blobData,
  blobDir,
  blobQuarantine,
  layerLink,
  layerLinkDir,
  layersDir,
  manifestsDir,
  repoDir,
  revisionDir,
  revisionLink,
  revisionQuarantine,
  uploadsDir,
} from '../paths.js';
import type { BlobCandidate, LayerLinks, ProgressFn, Revision } from './model.js';

/** Moves a parked file back, unless the original was written again meanwhile (then the copy is dropped). */
export async function unpark(driver: StorageDriver, from: string, to: string): Promise<void> {
  if (await statOrNull(driver, to)) await ignoreNotFound(driver.delete(from));
  else await ignoreNotFound(driver.move(from, to));
}

/**
 * Deletes `path` when it is an empty directory (or already gone). Removing a directory is list-then-delete (the
 * driver has no "remove if empty"), see the races at the top of gc.ts.
 */
export async function removeIfEmpty(driver: StorageDriver, path: string): Promise<boolean> {
  const st = await statOrNull(driver, path);
  if (!st) return true;
  if (!st.isDir || (await listOrEmpty(driver, path)).length > 0) return false;
  await ignoreNotFound(driver.delete(path));
  return true;
}

export interface Removal {
  repo: string;
  digest: Digest;
}

/** What the sweep did, for the report. */
export interface SweepTally {
  manifestsRemoved: Array<{ repository: string; digest: string }>;
  /** With the repositories whose `_layers` link to the blob was removed. */
  blobsRemoved: Array<BlobCandidate & { repositories: string[] }>;
  layerLinksRemoved: number;
  restored: number;
}

export class Sweeper {
  readonly tally: SweepTally = { manifestsRemoved: [], blobsRemoved: [], layerLinksRemoved: 0, restored: 0 };

  constructor(
    private readonly driver: StorageDriver,
    private readonly cutoff: number,
    private readonly concurrency: number,
    private readonly progress: ProgressFn,
  ) {}

  private map<T, R>(items: readonly T[], fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
    return mapLimit(items, this.concurrency, fn);
  }

  /** Parks the revision links and blob data of the candidates; returns the blobs actually parked. */
  async park(
    revisions: ReadonlyArray<{ repo: string; rev: Revision }>,
    blobs: Iterable<BlobCandidate>,
  ): Promise<Map<string, BlobCandidate>> {
    await this.map(revisions, async ({ repo, rev }) => {
      if (!rev.parked)
        await ignoreNotFound(this.driver.move(revisionLink(repo, rev.digest), revisionQuarantine(repo, rev.digest)));
    });
    const parked = new Map<string, BlobCandidate>();
    await this.map([...blobs], async (c) => {
      const moved = await orIfNotFound(
        this.driver.move(blobData(c.digest), blobQuarantine(c.digest)).then(() => true),
        false,
      );
      if (moved) parked.set(c.digest.value, c);
    });
    return parked;
  }

  /** Moves parked revisions back (reached again by the second scan). */
  async restoreRevisions(revisions: readonly Removal[]): Promise<void> {
    for (const { repo, digest } of revisions) {
      await unpark(this.driver, revisionQuarantine(repo, digest), revisionLink(repo, digest));
      this.tally.restored++;
    }
  }

  /** Drops the parked copy of revisions linked again meanwhile (pushed anew): the new link wins. */
  async dropRelinked(revisions: readonly Removal[]): Promise<void> {
    for (const { repo, digest } of revisions) {
      await ignoreNotFound(this.driver.delete(revisionQuarantine(repo, digest)));
      this.tally.restored++;
    }
  }

  /** Puts every parked copy back (the run turned blind between the scans). */
  async putBackAll(revisions: readonly Removal[], blobs: ReadonlyMap<string, BlobCandidate>): Promise<void> {
    for (const { repo, digest } of revisions)
      await unpark(this.driver, revisionQuarantine(repo, digest), revisionLink(repo, digest));
    for (const c of blobs.values()) await unpark(this.driver, blobQuarantine(c.digest), blobData(c.digest));
  }

  /** Puts back each parked blob that is `needed` again; returns the others, to delete. */
  async recheckBlobs(
    parked: ReadonlyMap<string, BlobCandidate>,
    needed: (c: BlobCandidate) => Promise<boolean>,
  ): Promise<BlobCandidate[]> {
    const toDelete: BlobCandidate[] = [];
    let checked = 0;
    await this.map([...parked.values()], async (c) => {
      this.progress('rechecking', ++checked, parked.size);
      if (await needed(c)) {
        await unpark(this.driver, blobQuarantine(c.digest), blobData(c.digest));
        this.tally.restored++;
      } else {
        toDelete.push(c);
      }
    });
    return toDelete;
  }

  /** Deletes the parked revisions and blobs, the emptied directories, and the `_layers` links to the blobs still old. */
  async delete(revisions: readonly Removal[], blobs: readonly BlobCandidate[], links: LayerLinks): Promise<void> {
    let deleted = 0;
    const total = revisions.length + blobs.length;
    await this.map(revisions, async ({ repo, digest }) => {
      await ignoreNotFound(this.driver.delete(revisionQuarantine(repo, digest)));
      await removeIfEmpty(this.driver, revisionDir(repo, digest));
      this.tally.manifestsRemoved.push({ repository: repo, digest: digest.value });
      this.progress('deleting', ++deleted, total);
    });
    await this.map(blobs, async (c) => {
      await ignoreNotFound(this.driver.delete(blobQuarantine(c.digest)));
      await removeIfEmpty(this.driver, blobDir(c.digest));
      const unlinked: string[] = [];
      for (const l of links.get(c.digest.value) ?? []) {
        // Checked again just before: a link written since the second scan belongs to a new upload.
        const st = await statOrNull(this.driver, layerLink(l.repo, c.digest));
        if (st && st.modTime.getTime() < this.cutoff) {
          await ignoreNotFound(this.driver.delete(layerLinkDir(l.repo, c.digest)));
          this.tally.layerLinksRemoved++;
          unlinked.push(l.repo);
        }
      }
      this.tally.blobsRemoved.push({ ...c, repositories: unlinked });
      this.progress('deleting', ++deleted, total);
    });
  }

  /** Removes `_manifests`, `_layers` and an empty `_uploads`, then the directory and its parents while empty (old uploads stay for purging). */
  async removeRepository(name: string): Promise<void> {
    await ignoreNotFound(this.driver.delete(manifestsDir(name)));
    await ignoreNotFound(this.driver.delete(layersDir(name)));
    await removeIfEmpty(this.driver, uploadsDir(name));
    let path = name;
    while (path !== '' && (await removeIfEmpty(this.driver, repoDir(path))))
      path = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  }
}
