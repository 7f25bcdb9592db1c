/**
 * Scan: garbage collection's storage reads. Builds the Snapshot that mark decides over, lists and ages the
 * blobs, finds `_layers` links and tells whether a repository was emptied. The only write here is `recover`:
 * putting back what an interrupted run left parked (see sweep.ts).
 */
import { parseManifest } from '../../oci/manifest.js';
import { isSupportedAlgorithm, parseDigest, type Digest } from '../../oci/names.js';
import { isNotFound, type StorageDriver } from '../../storage/driver.js';
import { mapLimit } from '../../storage/maplimit.js';
import { contentOrNull, listOrEmpty, statOrNull } from '../../storage/notfound.js';
import {
  basename,
  BLOBS,
  blobAlgorithmDir,
  blobData,
  blobQuarantine,
  layerLink,
  layersAlgorithmDir,
  layersDir,
  manifestsDir,
  revisionDir,
  revisionLink,
  revisionQuarantine,
  revisionsDir,
  revisionsRoot,
  tagCurrentLink,
  tagsDir,
  uploadData,
  uploadsDir,
} from '../paths.js';
import { allRepositories } from '../walk.js';
import {
  revisionKey,
  type BlobCandidate,
  type Findings,
  type LayerLinks,
  type LoadedManifest,
  type ProgressFn,
  type RepoScan,
  type Revision,
  type Snapshot,
} from './model.js';
import { unpark } from './sweep.js';

export class Scanner {
  constructor(
    private readonly driver: StorageDriver,
    /** Content written at or after this time (ms) is young. */
    private readonly cutoff: number,
    private readonly concurrency: number,
    private readonly findings: Findings,
    private readonly progress: ProgressFn,
  ) {}

  private map<T, R>(items: readonly T[], fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
    return mapLimit(items, this.concurrency, fn);
  }

  /** Every repository's revisions and tags, and the manifests they name. `recover` puts back leftovers of an interrupted run. */
  async snapshot(recover: boolean): Promise<Snapshot> {
    const names = await allRepositories(this.driver);
    let done = 0;
    const repos = await this.map(names, async (name) => {
      const scan = await this.scanRepo(name, recover);
      this.progress('scanning', ++done, names.length);
      return scan;
    });
    return { repos, manifests: await this.loadReachable(repos) };
  }

  /**
   * The digest algorithms whose directories `dir` holds (`blobs/`, `_manifests/revisions/`, `_layers/`), whatever
   * wrote them. One wharf cannot verify is reported; manifests under it make the run blind.
   */
  private async algorithms(dir: string, kind: 'blobs' | 'revisions' | 'layers'): Promise<string[]> {
    const out: string[] = [];
    for (const entry of await listOrEmpty(this.driver, dir)) {
      const name = basename(entry);
      if (isSupportedAlgorithm(name)) out.push(name);
      else if (kind === 'revisions' && (await listOrEmpty(this.driver, entry)).length > 0) {
        this.findings.blind = true;
        this.findings.warn(`${entry} holds manifests of an unsupported digest algorithm; no blob is removed`);
      }
    }
    return out;
  }

  /** Digests of the entries of `dir`, named by their hex under `algorithm`; malformed names are skipped. */
  private async digestsIn(dir: string, algorithm: string): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const e of await listOrEmpty(this.driver, dir)) {
      const d = parseDigest(`${algorithm}:${basename(e)}`);
      if (d) out.push(d);
    }
    return out;
  }

  /** Revisions (with their link's age) and tags of one repository. */
  private async scanRepo(name: string, recover: boolean): Promise<RepoScan> {
    const revisions = new Map<string, Revision>();
    for (const algorithm of await this.algorithms(revisionsRoot(name), 'revisions')) {
      await this.map(await this.digestsIn(revisionsDir(name, algorithm), algorithm), async (digest) => {
        const rev = await this.revision(name, digest, recover);
        if (rev) revisions.set(digest.value, rev);
      });
    }
    const tags = new Map<string, string>();
    const tagNames = (await listOrEmpty(this.driver, tagsDir(name))).map(basename);
    await this.map(tagNames, async (tag) => {
      const link = await contentOrNull(this.driver, tagCurrentLink(name, tag));
      const d = link && parseDigest(link.toString('utf8').trim());
      if (d) tags.set(tag, d.value);
    });
    const hasManifests =
      revisions.size > 0 || tags.size > 0 || (await statOrNull(this.driver, manifestsDir(name))) !== null;
    return { name, revisions, tags, hasManifests };
  }

  /** One revision: its link, else its parked copy (put back first with `recover`); null when neither exists. */
  private async revision(name: string, digest: Digest, recover: boolean): Promise<Revision | null> {
    let st = await statOrNull(this.driver, revisionLink(name, digest));
    let parked = false;
    if (!st) {
      const q = await statOrNull(this.driver, revisionQuarantine(name, digest));
      if (!q) return null;
      if (recover) {
        await unpark(this.driver, revisionQuarantine(name, digest), revisionLink(name, digest));
        st = await statOrNull(this.driver, revisionLink(name, digest));
      }
      if (!st) {
        st = q;
        parked = true;
      }
    }
    return { digest, modTime: st.modTime.getTime(), parked };
  }

  /** The manifests every revision and tag names, and index children, to a fixed point. */
  private async loadReachable(repos: RepoScan[]): Promise<Map<string, LoadedManifest>> {
    const out = new Map<string, LoadedManifest>();
    let level: string[] = [];
    for (const scan of repos) level.push(...scan.revisions.keys(), ...scan.tags.values());
    while (level.length > 0) {
      const fresh = [...new Set(level)].filter((d) => !out.has(d));
      const loaded = await this.map(fresh, (d) => this.load(parseDigest(d)!));
      level = [];
      fresh.forEach((d, i) => {
        const m = loaded[i];
        out.set(d, m);
        if (typeof m === 'object' && m.kind === 'index')
          for (const c of m.body.manifests) if (parseDigest(c.digest)) level.push(c.digest);
      });
    }
    return out;
  }

  /** The manifest stored under `d`, from the blob store or its parked copy. A read that fails otherwise counts as unparseable. */
  private async load(d: Digest): Promise<LoadedManifest> {
    for (const path of [blobData(d), blobQuarantine(d)]) {
      try {
        return parseManifest(await this.driver.getContent(path), undefined);
      } catch (err) {
        if (isNotFound(err)) continue;
        return 'unparseable';
      }
    }
    return 'missing';
  }

  /** Every blob in the global store (with or without data). `recover` puts back blobs parked by an interrupted run. */
  async blobs(recover: boolean): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const algorithm of await this.algorithms(BLOBS, 'blobs')) {
      const prefixes = await listOrEmpty(this.driver, blobAlgorithmDir(algorithm));
      const dirs = (await this.map(prefixes, (p) => listOrEmpty(this.driver, p))).flat();
      await this.map(dirs, async (dir) => {
        const d = parseDigest(`${algorithm}:${basename(dir)}`);
        if (!d) return;
        if (recover && (await statOrNull(this.driver, blobQuarantine(d))))
          await unpark(this.driver, blobQuarantine(d), blobData(d));
        out.push(d);
      });
    }
    return out;
  }

  /** Of `digests`, those whose data file exists and is older than the grace period, with their sizes. */
  async oldBlobs(digests: readonly Digest[]): Promise<Map<string, BlobCandidate>> {
    const out = new Map<string, BlobCandidate>();
    let swept = 0;
    await this.map(digests, async (d) => {
      const st = await statOrNull(this.driver, blobData(d));
      this.progress('sweeping', ++swept, digests.length);
      if (st && !st.isDir && st.modTime.getTime() < this.cutoff) out.set(d.value, { digest: d, size: st.size });
    });
    return out;
  }

  /** Whether the blob's data file exists (re-uploaded after it was parked). */
  async hasData(d: Digest): Promise<boolean> {
    return (await statOrNull(this.driver, blobData(d))) !== null;
  }

  /** For each digest in `digests`, the repositories linking it in `_layers`, and whether that link is young. */
  async layerLinksTo(digests: ReadonlySet<string>): Promise<LayerLinks> {
    const out: LayerLinks = new Map();
    if (digests.size === 0) return out;
    const repos = await allRepositories(this.driver);
    await this.map(repos, async (repo) => {
      for (const algorithm of await this.algorithms(layersDir(repo), 'layers')) {
        for (const d of await this.digestsIn(layersAlgorithmDir(repo, algorithm), algorithm)) {
          if (!digests.has(d.value)) continue;
          const st = await statOrNull(this.driver, layerLink(repo, d));
          if (!st) continue;
          const list = out.get(d.value) ?? [];
          list.push({ repo, fresh: st.modTime.getTime() >= this.cutoff });
          out.set(d.value, list);
        }
      }
    });
    return out;
  }

  /**
   * Whether the repository (which had `_manifests`) has no revision left, ignoring the `ignoring` ones
   * (`repo@digest`, for dry runs), and no sign of a push in progress: a young `_layers` link or upload.
   */
  async emptied(name: string, ignoring: ReadonlySet<string>): Promise<boolean> {
    for (const algorithm of await this.algorithms(revisionsRoot(name), 'revisions')) {
      for (const d of await this.digestsIn(revisionsDir(name, algorithm), algorithm)) {
        if (ignoring.has(revisionKey(name, d.value))) continue;
        if ((await listOrEmpty(this.driver, revisionDir(name, d))).length > 0) return false;
      }
    }
    for (const upload of await listOrEmpty(this.driver, uploadsDir(name))) {
      const st = await statOrNull(this.driver, uploadData(name, basename(upload)));
      if (!st || st.modTime.getTime() >= this.cutoff) return false;
    }
    for (const algorithm of await this.algorithms(layersDir(name), 'layers')) {
      for (const d of await this.digestsIn(layersAlgorithmDir(name, algorithm), algorithm)) {
        const st = await statOrNull(this.driver, layerLink(name, d));
        if (st && st.modTime.getTime() >= this.cutoff) return false;
      }
    }
    return true;
  }
}
