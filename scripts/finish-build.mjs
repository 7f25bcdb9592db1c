#!/usr/bin/env node
/**
 * The step after `tsc` in every build: copies the web UI's static assets next to the compiled code and records
 * what was built in dist/version.json ({ version, commit, modified }), which `wharf --version` prints.
 *
 * The commit comes from $WHARF_REVISION when set (a container build has no .git: the Containerfile passes its
 * REVISION build argument), else from `git` when the source is a checkout, else it is null (a tarball, a copy).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const root = new URL('../', import.meta.url);
cpSync(new URL('src/ui/assets', root), new URL('dist/src/ui/assets', root), { recursive: true });

function git(args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null; // not a checkout, or no git installed
  }
}

const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
let commit = process.env.WHARF_REVISION?.trim() || null;
let modified = null;
if (!commit) {
  commit = git(['rev-parse', 'HEAD']);
  // Changes to tracked files mean the build is not exactly that commit; untracked files are ignored.
  if (commit) modified = git(['status', '--porcelain', '--untracked-files=no']) !== '';
}
if (commit !== null && !/^[0-9a-f]{7,64}$/.test(commit)) {
  process.stderr.write(`finish-build: ignoring a revision that is not a commit hash: ${JSON.stringify(commit)}\n`);
  commit = null;
  modified = null;
}
mkdirSync(new URL('dist/', root), { recursive: true });
writeFileSync(new URL('dist/version.json', root), JSON.stringify({ version, commit, modified }) + '\n');
