/**
 * Credentials for an upstream: `username`/`password`, or v3's `exec` helper (a docker-credential-helper: run as
 * `<command> get` with the host on stdin, answering `{"Username":...,"Secret":...}`). As in Distribution, a
 * helper's answer is kept for `lifetime` (0: asked for every authentication; unset: asked once).
 */
import { spawn } from 'node:child_process';

export interface Credentials {
  username: string;
  password: string;
}

export interface CredentialSource {
  /** Credentials for `host`, or null for anonymous access. */
  get(host: string): Promise<Credentials | null>;
}

export function staticCredentials(username?: string, password?: string): CredentialSource {
  const c = username !== undefined && username !== '' ? { username, password: password ?? '' } : null;
  return { get: async () => c };
}

/** Runs a credential helper; rejects with its stderr (never its stdout, which may hold a secret) on failure. */
export function runHelper(command: string, host: string, timeoutMs = 30_000): Promise<Credentials | null> {
  return new Promise((resolve, reject) => {
    const p = spawn(command, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`credential helper ${command}: ${e.message}`, { cause: e }));
    });
    p.once('close', (code) => {
      clearTimeout(timer);
      // docker-credential-helpers print this (exit 1) when they hold nothing for the host: anonymous access.
      if (/credentials not found/i.test(out)) return resolve(null);
      if (code !== 0)
        return reject(new Error(`credential helper ${command} exited ${code}: ${err.trim().slice(0, 200)}`));
      try {
        const j = JSON.parse(out) as { Username?: string; Secret?: string };
        resolve(j.Username ? { username: j.Username, password: j.Secret ?? '' } : null);
      } catch {
        reject(new Error(`credential helper ${command}: its output is not JSON`));
      }
    });
    p.stdin.on('error', () => undefined);
    p.stdin.end(host);
  });
}

export function execCredentials(command: string, lifetimeMs: number | undefined, run = runHelper): CredentialSource {
  const cache = new Map<string, { creds: Credentials | null; expires: number }>();
  return {
    async get(host) {
      const hit = cache.get(host);
      if (hit && (lifetimeMs === undefined || Date.now() < hit.expires)) return hit.creds;
      const creds = await run(command, host);
      if (lifetimeMs !== 0)
        cache.set(host, { creds, expires: lifetimeMs === undefined ? Infinity : Date.now() + lifetimeMs });
      return creds;
    },
  };
}
