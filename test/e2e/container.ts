/**
 * Builds the repository's Containerfile with the real podman, with no image registry: the Debian trixie base it
 * names (`ARG BASE_IMAGE`) is made from Debian's packages by mmdebstrap and `podman import`ed under that name, then
 * `podman build --pull=never` runs on the unmodified Containerfile. podman gets the settings these machines need
 * (runc, cgroupfs, fixed rlimits: a CONTAINERS_CONF file), its own storage, and the host's CA bundle mounted for
 * `npm ci`'s HTTPS.
 *
 * The base tarball and podman's storage (with its layer cache) are kept under the system temp directory, keyed by
 * the date: a rerun the same day skips mmdebstrap and reuses unchanged layers; older days are removed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onPath, run, type RunResult } from './skopeo.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const PODMAN = onPath('podman');
export const MMDEBSTRAP = onPath('mmdebstrap');
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** Why the image cannot be built here, or false. */
export function imageSkipReason(): string | false {
  if (!PODMAN) return 'podman is not on PATH (CI installs it; apt-get install podman)';
  if (!MMDEBSTRAP) return 'mmdebstrap is not on PATH (CI installs it; apt-get install mmdebstrap)';
  if (!onPath('runc'))
    return 'runc is not on PATH: these machines need it instead of crun (CI installs it; apt-get install runc)';
  if (process.getuid?.() !== 0)
    return 'building a Debian root filesystem and running containers with runc needs root (CI runs as root)';
  return false;
}

/** podman with private storage and these machines' settings; every call goes through here. */
export class Podman {
  private readonly env: NodeJS.ProcessEnv;
  private readonly flags: string[];

  constructor(readonly dir: string) {
    const conf = join(dir, 'containers.conf');
    writeFileSync(
      conf,
      '[containers]\ndefault_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n',
    );
    const registries = join(dir, 'registries.conf');
    writeFileSync(registries, ''); // no search registries, no mirrors: nothing is ever pulled
    this.env = { ...process.env, CONTAINERS_CONF: conf, CONTAINERS_REGISTRIES_CONF: registries };
    this.flags = ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--storage-driver', 'overlay'];
  }

  run(args: string[], timeoutMs = 120_000): Promise<RunResult> {
    return run(PODMAN!, [...this.flags, ...args], timeoutMs, this.env);
  }

  /** Like run(), but throws with podman's output unless it exits 0; returns stdout. */
  async ok(args: string[], timeoutMs?: number): Promise<string> {
    const r = await this.run(args, timeoutMs);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  async inspect<T>(what: 'image' | 'container', name: string, format: string): Promise<T> {
    return JSON.parse(await this.ok([what, 'inspect', '--format', `{{json ${format}}}`, name])) as T;
  }

  /** Everything the container wrote to stdout and stderr, over all its runs. */
  async logs(name: string): Promise<string> {
    const r = await this.run(['logs', name]);
    return r.stdout + r.stderr;
  }
}

/** The cache directory of today; directories of other days are removed. */
function cacheDir(): string {
  const parent = join(tmpdir(), 'wharf-e2e-image-cache');
  const today = new Date().toISOString().slice(0, 10);
  mkdirSync(join(parent, today), { recursive: true });
  for (const d of readdirSync(parent)) if (d !== today) removeCache(join(parent, d));
  return join(parent, today);
}

/** podman's overlay driver keeps its directory bind-mounted on itself: unmount it before removing. */
function removeCache(dir: string): void {
  try {
    execFileSync('umount', [join(dir, 'storage', 'overlay')], { stdio: 'ignore' });
  } catch {
    /* not mounted */
  }
  rmSync(dir, { recursive: true, force: true });
}

/** The base image name the Containerfile builds on (its `ARG BASE_IMAGE` default). */
export function baseImageName(): string {
  const m = /^ARG BASE_IMAGE=(\S+)$/m.exec(readFileSync(join(REPO_ROOT, 'Containerfile'), 'utf8'));
  if (!m) throw new Error('the Containerfile has no ARG BASE_IMAGE=<default>');
  return m[1];
}

/** The checkout's commit, or null when the tests do not run from a git checkout. */
export function gitHead(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

export interface BuiltImage {
  podman: Podman;
  /** Image ID (not a tag: concurrent runs may build the same tag). */
  id: string;
  revision: string | null;
  seconds: { base: number; build: number };
}

/** mmdebstrap (unless cached today) + podman import (unless present) + podman build of the Containerfile. */
export async function buildImage(): Promise<BuiltImage> {
  const dir = cacheDir();
  const podman = new Podman(dir);
  const base = baseImageName();
  const t0 = Date.now();
  const tarball = join(dir, 'base.tar');
  if (!existsSync(tarball)) {
    // mmdebstrap picks the output format by the name: keep `.tar` last.
    const partial = join(dir, `base.${process.pid}.tar`);
    const r = await run(MMDEBSTRAP!, ['--variant=minbase', '--include=ca-certificates', 'trixie', partial], 600_000);
    if (r.code !== 0) throw new Error(`mmdebstrap exited ${r.code}:\n${r.stderr.slice(-4000)}`);
    renameSync(partial, tarball); // atomic: a concurrent run never imports half a tarball
  }
  if ((await podman.run(['image', 'exists', base])).code !== 0) await podman.ok(['import', tarball, base], 300_000);
  const t1 = Date.now();
  const revision = gitHead();
  const iidfile = join(dir, `iid.${process.pid}`);
  const args = ['build', '--pull=never', '--network', 'host', '--format', 'docker', '--iidfile', iidfile];
  if (existsSync(CA_BUNDLE)) args.push('-v', `${CA_BUNDLE}:${CA_BUNDLE}:ro`);
  if (revision) args.push('--build-arg', `REVISION=${revision}`);
  await podman.ok([...args, '-t', 'localhost/wharf-e2e:latest', REPO_ROOT], 1_200_000);
  const id = readFileSync(iidfile, 'utf8').trim();
  rmSync(iidfile, { force: true });
  return { podman, id, revision, seconds: { base: (t1 - t0) / 1000, build: (Date.now() - t1) / 1000 } };
}
