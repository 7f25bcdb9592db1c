/**
 * What `wharf --version` prints: the package version and, when the build recorded one (scripts/finish-build.mjs
 * writes dist/version.json), the git commit it was built from. Missing or unreadable build info falls back to
 * package.json alone, so a plain `tsc` build still answers.
 */
import { readFileSync } from 'node:fs';

export interface BuildInfo {
  version: string;
  /** Full commit hash, or null when not built from a checkout (and no revision was passed). */
  commit: string | null;
  /** Tracked files differed from the commit at build time; null when unknown. */
  modified: boolean | null;
}

function readJson(url: URL): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(url, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** dist/version.json, else package.json's version with no commit. Both live relative to this compiled file. */
export function buildInfo(): BuildInfo {
  const pkg = readJson(new URL('../../package.json', import.meta.url));
  const version = typeof pkg?.version === 'string' ? pkg.version : '0.0.0';
  const info = readJson(new URL('../version.json', import.meta.url));
  if (!info || info.version !== version) return { version, commit: null, modified: null };
  return {
    version,
    commit: typeof info.commit === 'string' ? info.commit : null,
    modified: typeof info.modified === 'boolean' ? info.modified : null,
  };
}

/** `0.1.0`, `0.1.0 (commit 1003918abcde)` or `0.1.0 (commit 1003918abcde, modified)`. */
export function versionText(info: BuildInfo = buildInfo()): string {
  if (!info.commit) return info.version;
  return `${info.version} (commit ${info.commit.slice(0, 12)}${info.modified ? ', modified' : ''})`;
}
