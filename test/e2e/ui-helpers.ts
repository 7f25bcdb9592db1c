/**
 * Helpers of the web UI tests (ui-*.test.ts): Debian's chromium driven by playwright-core (never a downloaded
 * browser), screenshots under test-artifacts/ui/, and a fixture pushed over HTTP: a two-platform index whose amd64
 * image carries an HTML-looking label, an arm64 image, an SBOM-like referrer with an artifactType, and a second
 * repository.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { sha256 } from './harness.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_MISSING = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is not installed (apt-get install chromium; .ci/run installs it)`;

/** test-artifacts/ui at the repository root (dist/test/e2e -> ../../../). */
export const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/ui/', import.meta.url));

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Dialogs (alert/confirm/prompt) the page opened: must stay empty. */
  dialogs: string[];
  /** Console errors and failed CSP checks. */
  errors: string[];
  close(): Promise<void>;
}

/** A headless chromium with a fresh profile; `width` x `height` viewport. */
export async function openBrowser(width = 1200, height = 800): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'wharf-ui-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width, height },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return {
    context,
    page,
    dialogs,
    errors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Errors other than the expected 401/403/404 answers the UI shows as states. */
export function unexpectedErrors(errors: string[]): string[] {
  return errors.filter((e) => !/Failed to load resource: the server responded with a status of (401|403|404)/.test(e));
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * A screenshot for the README: 1000 px wide, cut below the content (test-artifacts/ui/readme-<name>.png; copied
 * to docs/ by hand when the UI changes).
 */
export async function readmeShot(page: Page, name: string): Promise<void> {
  const before = page.viewportSize();
  await page.setViewportSize({ width: 1000, height: 600 });
  const bottom = await page.evaluate(() =>
    Math.ceil(document.getElementById('main')!.lastElementChild!.getBoundingClientRect().bottom + window.scrollY + 24),
  );
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({
    path: join(ARTIFACTS, `readme-${name}.png`),
    fullPage: true,
    clip: { x: 0, y: 0, width: 1000, height: bottom },
  });
  if (before) await page.setViewportSize(before);
}

/** Waits until the view for the current hash finished rendering. */
export async function settled(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const m = document.getElementById('main');
    return !!m && m.getAttribute('data-ready') === (location.hash || '#/') && !m.querySelector('[aria-busy="true"]');
  });
}

export async function go(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await settled(page);
}

// ---------------------------------------------------------------------------------------------------------------
// Fixture

export type Headers = Record<string, string>;
/** Headers authorising `actions` on `repo` (none for an open registry). */
export type AuthFor = (repo: string, actions: string[]) => Promise<Headers>;
export const OPEN: AuthFor = async () => ({});

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const SBOM_TYPE = 'application/vnd.example.sbom.v1+json';
export const EVIL_LABEL = '<img src=x onerror=alert(1)>';

async function check(r: Response, what: string, want: number): Promise<void> {
  const text = await r.text();
  if (r.status !== want) throw new Error(`${what}: HTTP ${r.status} ${text}`);
}

export async function putBlob(
  url: string,
  repo: string,
  data: Buffer,
  auth: AuthFor,
): Promise<{ digest: string; size: number }> {
  const digest = sha256(data);
  const r = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    body: new Uint8Array(data),
    headers: { ...(await auth(repo, ['pull', 'push'])), 'Content-Type': 'application/octet-stream' },
  });
  await check(r, `blob ${digest}`, 201);
  return { digest, size: data.length };
}

export async function putManifest(
  url: string,
  repo: string,
  ref: string,
  manifest: unknown,
  mediaType: string,
  auth: AuthFor,
): Promise<{ digest: string; size: number }> {
  const body = Buffer.from(JSON.stringify(manifest));
  const r = await fetch(`${url}/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    body: new Uint8Array(body),
    headers: { ...(await auth(repo, ['pull', 'push'])), 'Content-Type': mediaType },
  });
  await check(r, `manifest ${repo}:${ref}`, 201);
  return { digest: sha256(body), size: body.length };
}

/** Deterministic filler of `n` bytes. */
function bytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (seed.charCodeAt(i % seed.length) + i * 7) & 0xff;
  return out;
}

export interface PushedImage {
  digest: string;
  size: number;
  /** config + layers, bytes */
  total: number;
  layers: number[];
}

/** Pushes an image (config + filler layers); `ref` "" pushes it by digest only. */
export async function pushImage(
  url: string,
  repo: string,
  ref: string,
  opts: { arch: string; variant?: string; layers: number[]; labels?: Record<string, string>; created?: string },
  auth: AuthFor,
): Promise<PushedImage> {
  const config = Buffer.from(
    JSON.stringify({
      architecture: opts.arch,
      ...(opts.variant ? { variant: opts.variant } : {}),
      os: 'linux',
      created: opts.created ?? '2024-05-01T12:00:00Z',
      config: {
        Entrypoint: ['/bin/demo'],
        Cmd: ['--serve', '--port=8080'],
        Env: ['PATH=/usr/local/bin:/usr/bin:/bin', `DEMO_ARCH=${opts.arch}`],
        WorkingDir: '/srv',
        Labels: opts.labels ?? {},
      },
      rootfs: { type: 'layers', diff_ids: opts.layers.map((_, i) => sha256(`diff-${opts.arch}-${i}`)) },
      history: [
        { created: '2024-05-01T11:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:base in /' },
        { created: '2024-05-01T11:30:00Z', created_by: 'ENV DEMO=1', empty_layer: true },
        ...opts.layers.slice(1).map(() => ({ created: '2024-05-01T12:00:00Z', created_by: 'RUN make install' })),
      ],
    }),
  );
  const c = await putBlob(url, repo, config, auth);
  const layers = [];
  for (const [i, n] of opts.layers.entries())
    layers.push({ mediaType: OCI_LAYER, ...(await putBlob(url, repo, bytes(n, `${opts.arch}-${i}`), auth)) });
  const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, ...c }, layers };
  const m = await putManifest(url, repo, ref || sha256(JSON.stringify(manifest)), manifest, OCI_MANIFEST, auth);
  return { ...m, total: c.size + opts.layers.reduce((a, b) => a + b, 0), layers: opts.layers };
}

export interface Fixture {
  amd64: PushedImage;
  arm64: PushedImage;
  index: { digest: string; size: number };
  /** Unique config and layer bytes of both platforms. */
  indexTotal: number;
  referrer: { digest: string; size: number };
}

/** demo/app: `latest` (two-platform index), `v1` (the amd64 image); an SBOM referrer of the index; other/tool:1.0. */
export async function pushFixture(url: string, auth: AuthFor = OPEN): Promise<Fixture> {
  const repo = 'demo/app';
  const amd64 = await pushImage(
    url,
    repo,
    'v1',
    {
      arch: 'amd64',
      layers: [1500, 2500],
      labels: { 'org.opencontainers.image.title': 'Demo app', 'org.opencontainers.image.description': EVIL_LABEL },
    },
    auth,
  );
  const arm64 = await pushImage(url, repo, '', { arch: 'arm64', variant: 'v8', layers: [3000] }, auth);
  const index = await putManifest(
    url,
    repo,
    'latest',
    {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: amd64.digest,
          size: amd64.size,
          platform: { os: 'linux', architecture: 'amd64' },
        },
        {
          mediaType: OCI_MANIFEST,
          digest: arm64.digest,
          size: arm64.size,
          platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
        },
      ],
    },
    OCI_INDEX,
    auth,
  );
  const empty = await putBlob(url, repo, Buffer.from('{}'), auth);
  const sbom = await putBlob(url, repo, Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'demo' })), auth);
  const referrerManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: SBOM_TYPE,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
    layers: [{ mediaType: 'application/spdx+json', ...sbom }],
    subject: { mediaType: OCI_INDEX, ...index },
    annotations: { 'org.opencontainers.image.created': '2024-05-02T08:00:00Z' },
  };
  const referrerBody = Buffer.from(JSON.stringify(referrerManifest));
  const referrer = await putManifest(url, repo, sha256(referrerBody), referrerManifest, OCI_MANIFEST, auth);
  await pushImage(url, 'other/tool', '1.0', { arch: 'amd64', layers: [800] }, auth);
  return { amd64, arm64, index, indexTotal: amd64.total + arm64.total, referrer };
}
