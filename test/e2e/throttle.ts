/**
 * Helpers for the login throttling tests: wharf behind htpasswd with a given `bruteforce:` section, and HTTP
 * requests sent from a loopback address of our choosing (Linux routes all of 127.0.0.0/8 to lo, so every
 * 127.x.y.z is a distinct client to the server).
 */
import { request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { startWharf, testConfig, type Wharf } from './harness.js';

export const REALM = 'throttle e2e';

export interface Answer {
  status: number;
  /** Retry-After as a number (NaN when absent). */
  retryAfter: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface CallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** The client's source address (default 127.0.0.1). */
  from?: string;
}

/** One request on a fresh connection from `from`. */
export function call(url: string, path: string, o: CallOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      { method: o.method ?? 'GET', headers: o.headers, localAddress: o.from ?? '127.0.0.1', agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: Number(res.headers['retry-after'] ?? NaN),
            headers: res.headers,
            body,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

export function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

/** GET /v2/ with Basic credentials from `from`: what every client's login does. */
export function login(
  w: Wharf,
  user: string,
  password: string,
  from = '127.0.0.1',
  headers: Record<string, string> = {},
): Promise<Answer> {
  return call(w.url, '/v2/', { headers: { ...basic(user, password), ...headers }, from });
}

/** htpasswd lines (bcrypt cost 5: the tests check many passwords). */
export function htpasswd(users: Record<string, string>): string {
  return Object.entries(users)
    .map(([u, p]) => `${u}:${bcrypt.hashSync(p, 5)}\n`)
    .join('');
}

/** wharf with auth.htpasswd over `users` and `extra` top-level YAML (a `bruteforce:` section, ...); info log. */
export async function startThrottled(
  users: Record<string, string>,
  extra = '',
  parts: { http?: string; accessLog?: boolean } = {},
): Promise<Wharf> {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-throttle-'));
  writeFileSync(join(dir, 'users'), htpasswd(users));
  try {
    return await startWharf({
      dir,
      config: testConfig({
        logLevel: 'info',
        accessLog: parts.accessLog,
        http: parts.http,
        extra: `auth:\n  htpasswd:\n    realm: ${REALM}\n    path: {{dir}}/users\n${extra}`,
      }),
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Log lines (text formatter) containing `text`. */
export function logLines(w: Wharf, text: string): string[] {
  return w
    .output()
    .split('\n')
    .filter((l) => l.includes(text));
}
