/** The data garbage collection decides over: what a scan read from storage, and what the run found wrong. */
import type { ParsedManifest } from '../../oci/manifest.js';
import type { Digest } from '../../oci/names.js';

export interface GcProgress {
  phase: 'scanning' | 'marking' | 'sweeping' | 'rechecking' | 'deleting';
  done: number;
  total: number;
}

export type ProgressFn = (phase: GcProgress['phase'], done: number, total: number) => void;

export interface Revision {
  digest: Digest;
  modTime: number;
  /** Parked by an earlier phase (or an interrupted run); no `link` file. */
  parked: boolean;
}

export interface RepoScan {
  name: string;
  revisions: Map<string, Revision>;
  /** tag -> digest value of its current link. */
  tags: Map<string, string>;
  /** Whether `_manifests` existed (some drivers have no empty directories). */
  hasManifests: boolean;
}

/** A manifest read by digest from the blob store (or its parked copy). */
export type LoadedManifest = ParsedManifest | 'missing' | 'unparseable';

/** One scan of the whole registry. */
export interface Snapshot {
  repos: RepoScan[];
  /**
   * Every manifest a revision or tag names, and the children of those that are indexes (transitively), by digest
   * value. Content-addressed, so never stale within a run; a digest absent here was never read.
   */
  manifests: ReadonlyMap<string, LoadedManifest>;
}

export interface BlobCandidate {
  digest: Digest;
  size: number;
}

/** Blob digest -> the repositories linking it in `_layers`, and whether that link is younger than the grace period. */
export type LayerLinks = Map<string, Array<{ repo: string; fresh: boolean }>>;

/** A revision's identity across repositories. */
export const revisionKey = (repo: string, digest: string) => `${repo}@${digest}`;

/**
 * What a run found wrong, in order. `blind` is set when a kept manifest exists but cannot be understood
 * (unparseable, or under a digest algorithm wharf does not support): what it references is unknown, so the run
 * removes no blob at all.
 */
export class Findings {
  readonly warnings: string[] = [];
  blind = false;

  warn(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message);
  }

  blindBy(digest: string): void {
    this.blind = true;
    this.warn(`manifest ${digest} is kept but does not parse`);
  }
}
