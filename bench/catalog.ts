/**
 * Catalog scenarios: many repositories laid out on disk directly (a `_manifests` and a `_layers` directory each,
 * which both servers take for a repository), then full walks at `n=1000` following the Link headers, and single
 * pages starting at positions spread over the list.
 */
import { mkdirSync } from 'node:fs';
import type { Agent } from 'node:http';
import { join } from 'node:path';
import { absolute, expectStatus, send } from './http.js';

/** Creates `count` repositories `catalog/team-NN/app-NNN` under a filesystem root directory (50 per team). */
export function seedRepositories(rootdirectory: string, count: number): string[] {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `catalog/team-${String(Math.floor(i / 50)).padStart(2, '0')}/app-${String(i % 50).padStart(3, '0')}`;
    const dir = join(rootdirectory, 'docker/registry/v2/repositories', name);
    mkdirSync(join(dir, '_manifests/tags'), { recursive: true });
    mkdirSync(join(dir, '_layers/sha256'), { recursive: true });
    names.push(name);
  }
  return names;
}

/** Follows the catalog's Link headers at `n` per page; returns the names and the milliseconds it took. */
export async function walkCatalog(agent: Agent, base: string, n: number): Promise<{ names: string[]; ms: number }> {
  const t0 = performance.now();
  const names: string[] = [];
  let url: string | null = `${base}/v2/_catalog?n=${n}`;
  while (url) {
    const r = await send(agent, 'GET', url, {});
    expectStatus(r, 200, 'GET catalog');
    names.push(...(JSON.parse(r.text) as { repositories: string[] }).repositories);
    const link = r.headers.link as string | undefined;
    url = link ? absolute(base, /<([^>]+)>/.exec(link)![1]) : null;
  }
  return { names, ms: performance.now() - t0 };
}

/** Times single pages of `n` entries starting after `count` names spread evenly over `names`; returns each in ms. */
export async function pageTimes(
  agent: Agent,
  base: string,
  names: string[],
  n: number,
  count: number,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const last = names[Math.floor((i * names.length) / count)];
    const t0 = performance.now();
    const r = await send(agent, 'GET', `${base}/v2/_catalog?n=${n}&last=${encodeURIComponent(last)}`, {});
    out.push(performance.now() - t0);
    expectStatus(r, 200, 'GET catalog page');
  }
  return out;
}

/** Creates `count` repositories under `root` in an S3 bucket: one `_manifests` and one `_layers` link object each. */
export async function seedS3Repositories(
  put: (key: string, body: string) => Promise<void>,
  root: string,
  count: number,
): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++)
    names.push(`catalog/team-${String(Math.floor(i / 50)).padStart(2, '0')}/app-${String(i % 50).padStart(3, '0')}`);
  const digest = `sha256:${'0'.repeat(64)}`;
  let next = 0;
  const lane = async () => {
    while (next < names.length) {
      const base = `${root}/docker/registry/v2/repositories/${names[next++]}`;
      await put(`${base}/_manifests/tags/v1/current/link`, digest);
      await put(`${base}/_layers/sha256/${'0'.repeat(64)}/link`, digest);
    }
  };
  await Promise.all(Array.from({ length: 32 }, lane));
  return names;
}

/** First walk (a server keeping a list builds it here), then the median of `walks` walks and the p50 of `pages` pages, in ms. */
export async function catalogFigures(
  agent: Agent,
  base: string,
  expected: number,
  walks: number,
  pages: number,
): Promise<{ firstWalkMs: number; walkMs: number; pageMs: number }> {
  const first = await walkCatalog(agent, base, 1000);
  if (first.names.length < expected)
    throw new Error(`${base}: the catalog lists ${first.names.length} repositories, expected at least ${expected}`);
  const times: number[] = [];
  for (let i = 0; i < walks; i++) times.push((await walkCatalog(agent, base, 1000)).ms);
  const page = await pageTimes(agent, base, first.names, 100, pages);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  return { firstWalkMs: first.ms, walkMs: med(times), pageMs: med(page) };
}
