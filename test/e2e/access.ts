/**
 * Shared by the access-rule tests: the README's example rules, the accounts x repositories x actions table they
 * must produce (written out by hand, not computed from the rules), an htpasswd writer, and the three actions as
 * API calls (pull = GET manifest + blob, push = POST upload + PUT manifest, delete = DELETE manifest) whose
 * Authorization header comes from the caller (Basic for htpasswd, a fresh Bearer token for the token method).
 */
import { writeFileSync } from 'node:fs';
import bcrypt from 'bcryptjs';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256 } from './harness.js';

export const USERS = { alice: 'alice-Pa55-acc', bob: 'bob-Pa55-acc', carol: 'carol-Pa55-acc' } as const;
export type User = keyof typeof USERS;
export type Account = User | 'anonymous';
export const ACCOUNTS: Account[] = ['anonymous', 'alice', 'bob', 'carol'];
export const REPOS = ['alice/app', 'bob/app', 'public/base', 'team/x'] as const;
export type Action = 'pull' | 'push' | 'delete';
export const ACTIONS: Action[] = ['pull', 'push', 'delete'];

/** The example `access:` section of the README (indented under `access:`). */
export const EXAMPLE_RULES = `access:
  groups: { admins: [carol] }
  rules:
    - { accounts: [group:admins], repositories: ["**"], actions: ["*"], catalog: true }
    - { accounts: ["*"], repositories: ["\${account}/**"], actions: [pull, push] }
    - { accounts: ["*"], repositories: ["**"], actions: [pull], catalog: true }
    - { accounts: [anonymous], repositories: ["public/**"], actions: [pull] }
`;

/** What EXAMPLE_RULES allow, by hand: carol everything; users pull all and push their own; anonymous pulls public/**. */
export const ALLOWED: Record<Account, Record<(typeof REPOS)[number], Action[]>> = {
  carol: {
    'alice/app': ['pull', 'push', 'delete'],
    'bob/app': ['pull', 'push', 'delete'],
    'public/base': ['pull', 'push', 'delete'],
    'team/x': ['pull', 'push', 'delete'],
  },
  alice: { 'alice/app': ['pull', 'push'], 'bob/app': ['pull'], 'public/base': ['pull'], 'team/x': ['pull'] },
  bob: { 'alice/app': ['pull'], 'bob/app': ['pull', 'push'], 'public/base': ['pull'], 'team/x': ['pull'] },
  anonymous: { 'alice/app': [], 'bob/app': [], 'public/base': ['pull'], 'team/x': [] },
};

/** An htpasswd file of `users` ($2y$ bcrypt of cost 5, the form `htpasswd -B` writes). */
export function writeUsers(path: string, users: Record<string, string>): void {
  writeFileSync(
    path,
    Object.entries(users)
      .map(([u, p]) => `${u}:$2y$${bcrypt.hashSync(p, 5).slice(4)}\n`)
      .join(''),
    { mode: 0o600 },
  );
}

export function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

/** The exact error body wharf sends for `code` on the given accesses (Distribution's Go field names). */
export function errorBody(code: 'UNAUTHORIZED' | 'DENIED', name: string | null, actions: string[]): string {
  const message = code === 'DENIED' ? 'requested access to the resource is denied' : 'authentication required';
  const detail =
    name === null
      ? [{ Type: 'registry', Class: '', Name: 'catalog', Action: '*' }]
      : actions.map((a) => ({ Type: 'repository', Class: '', Name: name, Action: a }));
  return JSON.stringify({ errors: [{ code, message, detail }] }) + '\n';
}

export interface Answer {
  status: number;
  challenge: string | null;
  body: string;
}

/** Headers for one request that needs `actions` on `repo` (a Bearer flow fetches a token with that scope). */
export type AuthFor = (repo: string, actions: Action[]) => Promise<Record<string, string>>;

async function call(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string | Uint8Array<ArrayBuffer>,
): Promise<Answer> {
  const r = await fetch(url, { method, headers, body });
  return { status: r.status, challenge: r.headers.get('www-authenticate'), body: await r.text() };
}

/** A small image: a config and a layer blob and the manifest naming them (as text, so its digest is fixed). */
export function image(seed: string): { config: Buffer; layer: Buffer; manifest: string } {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const layer = Buffer.from(`access-layer-${seed}`);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: sha256(layer), size: layer.length }],
    annotations: { seed },
  });
  return { config, layer, manifest };
}

/** Pushes `image(seed)` to `repo` as `tag`; throws unless every step succeeds. */
export async function seed(url: string, repo: string, tag: string, seedText: string, auth: AuthFor): Promise<string> {
  const img = image(seedText);
  for (const blob of [img.config, img.layer]) {
    const r = await call(
      `${url}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`,
      'POST',
      { ...(await auth(repo, ['pull', 'push'])), 'Content-Type': 'application/octet-stream' },
      new Uint8Array(blob) as Uint8Array<ArrayBuffer>,
    );
    if (r.status !== 201) throw new Error(`seeding ${repo}: blob upload ${r.status} ${r.body}`);
  }
  const put = await call(
    `${url}/v2/${repo}/manifests/${tag}`,
    'PUT',
    { ...(await auth(repo, ['pull', 'push'])), 'Content-Type': OCI_MANIFEST },
    img.manifest,
  );
  if (put.status !== 201) throw new Error(`seeding ${repo}: manifest ${put.status} ${put.body}`);
  return sha256(img.manifest);
}

/**
 * Runs one action on `repo` and returns every answer: pull reads the `v1` manifest and its config blob; push
 * uploads a new blob and tags the `v1` manifest again; delete removes the manifest `digest`.
 */
export async function act(
  url: string,
  repo: string,
  action: Action,
  auth: AuthFor,
  who: string,
  digest: string,
): Promise<Answer[]> {
  const img = image(`v1-${repo}`);
  if (action === 'pull') {
    const h = await auth(repo, ['pull']);
    return [
      await call(`${url}/v2/${repo}/manifests/v1`, 'GET', { ...h, Accept: OCI_MANIFEST }),
      await call(`${url}/v2/${repo}/blobs/${sha256(img.config)}`, 'GET', h),
    ];
  }
  if (action === 'push') {
    const fresh = Buffer.from(`pushed by ${who} to ${repo}`);
    const h = await auth(repo, ['pull', 'push']);
    return [
      await call(
        `${url}/v2/${repo}/blobs/uploads/?digest=${sha256(fresh)}`,
        'POST',
        { ...h, 'Content-Type': 'application/octet-stream' },
        new Uint8Array(fresh) as Uint8Array<ArrayBuffer>,
      ),
      await call(`${url}/v2/${repo}/manifests/by-${who}`, 'PUT', { ...h, 'Content-Type': OCI_MANIFEST }, img.manifest),
    ];
  }
  return [await call(`${url}/v2/${repo}/manifests/${digest}`, 'DELETE', await auth(repo, ['delete']))];
}

/** The accesses Distribution lists for each action's requests, in order (pull: GETs; push: POST and PUT). */
export function accessesOf(action: Action): string[] {
  return action === 'pull' ? ['pull'] : action === 'push' ? ['pull', 'push'] : ['delete'];
}
