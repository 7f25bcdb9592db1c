/**
 * Runs the real `skopeo` against plain-HTTP registries on 127.0.0.1. `SKOPEO` is null when the binary is not on
 * PATH; test files then skip with `SKOPEO_MISSING` as the reason.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Full path of an executable found on PATH, or null. */
export function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

export const SKOPEO = onPath('skopeo');
export const SKOPEO_MISSING = 'skopeo is not on PATH (CI installs it; apt-get install skopeo)';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after `timeoutMs`), capturing its output; `env` replaces the environment. */
export function run(cmd: string, args: string[], timeoutMs = 120_000, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * `skopeo <args>` with the signature policy disabled (the tests push unsigned images they built) and
 * TLS verification off for `docker://` references (the registries under test speak plain HTTP).
 */
export function skopeo(args: string[]): Promise<RunResult> {
  if (!SKOPEO) throw new Error(SKOPEO_MISSING);
  return run(SKOPEO, ['--insecure-policy', ...args]);
}

/** Like skopeo(), but throws (with skopeo's stderr) unless it exits 0; returns stdout. */
export async function skopeoOk(args: string[]): Promise<string> {
  const r = await skopeo(args);
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `skopeo copy` from `src` to `dst` with TLS verification off on both sides, plus `extra` options. */
export function copy(src: string, dst: string, ...extra: string[]): Promise<string> {
  return skopeoOk(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', ...extra, src, dst]);
}
