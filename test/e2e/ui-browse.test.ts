/**
 * The web UI in a real browser (Debian's chromium via playwright-core) against the real server, no auth:
 * - `/` answers non-browser clients with the empty 200 as before, browsers with the page; every UI response
 *   carries the CSP and hardening headers; assets are cached by content hash;
 * - repositories (tag counts, push time, search), a repository's tags (digest, size, platforms, sort by name and
 *   date), an index (platforms with sizes, total size of the unique blobs, pull commands with this host,
 *   the referrer with its artifactType) and an image (config, entrypoint, env, labels, history, layers);
 * - a label holding HTML renders as text: no element made, no dialog opened; no CSP violation on any page;
 * - deleting a tag with confirmation (and the tag is gone from the API), manifest unknown and repository not
 *   found states, a phone-width page without horizontal scrolling, the skip link;
 * - `ui.path` elsewhere with an empty registry (the empty state), and `ui.enabled: false`.
 * Screenshots go to test-artifacts/ui/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { configWith, startWharf, type Wharf } from './harness.js';
import {
  CHROMIUM_MISSING,
  EVIL_LABEL,
  go,
  openBrowser,
  OPEN,
  pushFixture,
  putManifest,
  OCI_MANIFEST,
  readmeShot,
  SBOM_TYPE,
  screenshot,
  settled,
  unexpectedErrors,
  type Browser,
  type Fixture,
} from './ui-helpers.js';

const HTML_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('web UI: browsing', { skip: CHROMIUM_MISSING }, () => {
  let w: Wharf;
  let fx: Fixture;
  let b: Browser;

  before(async () => {
    w = await startWharf();
    fx = await pushFixture(w.url);
    // v1 re-tagged later than latest, so that sorting by date differs from sorting by name.
    await new Promise((r) => setTimeout(r, 1100));
    const amd64 = await (
      await fetch(`${w.url}/v2/demo/app/manifests/${fx.amd64.digest}`, { headers: { Accept: OCI_MANIFEST } })
    ).json();
    await putManifest(w.url, 'demo/app', 'v1', amd64, OCI_MANIFEST, OPEN);
    b = await openBrowser();
  });
  after(async () => {
    await b?.close();
    await w?.cleanup();
  });

  test('`/`: the empty 200 for API clients, the page with its security headers for browsers', async () => {
    for (const accept of [undefined, '*/*', 'application/json']) {
      const r = await fetch(`${w.url}/`, { headers: accept ? { Accept: accept } : {} });
      assert.equal(r.status, 200);
      assert.equal(await r.text(), '');
      assert.equal(r.headers.get('content-security-policy'), null);
    }
    const r = await fetch(`${w.url}/`, { headers: { Accept: HTML_ACCEPT } });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type')!, /^text\/html/);
    const html = await r.text();
    assert.match(html, /<script type="module" src="\/_ui\/app\.js\?v=[0-9a-f]{12}"><\/script>/);
    assert.doesNotMatch(html, /<script>|<style|style=|\son\w+=/i, 'no inline script or style');
    const csp = r.headers.get('content-security-policy')!;
    for (const d of [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "frame-ancestors 'none'",
      "object-src 'none'",
      "base-uri 'none'",
    ])
      assert.ok(csp.includes(d), `CSP has ${d}: ${csp}`);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(r.headers.get('x-frame-options'), 'DENY');
    assert.equal(r.headers.get('vary'), 'Accept');

    const version = /app\.js\?v=([0-9a-f]+)/.exec(html)![1];
    const js = await fetch(`${w.url}/_ui/app.js?v=${version}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type')!, /^text\/javascript/);
    assert.match(js.headers.get('cache-control')!, /immutable/);
    assert.ok(js.headers.get('content-security-policy'));
    const etag = js.headers.get('etag')!;
    const again = await fetch(`${w.url}/_ui/app.js`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    assert.equal((await fetch(`${w.url}/_ui/nope.js`)).status, 404);
    const api = await fetch(`${w.url}/_ui/api/session`);
    assert.deepEqual(await api.json(), { auth: 'none', user: null, challenge: null, deleteEnabled: true });
    assert.ok(api.headers.get('content-security-policy'));
  });

  test('repositories: tag counts, push times, search', async () => {
    const { page } = b;
    await go(page, `${w.url}/`);
    const rows = page.locator('table.repos tbody tr');
    assert.equal(await rows.count(), 2);
    assert.deepEqual(await rows.locator('th').allTextContents(), ['demo/app', 'other/tool']);
    assert.deepEqual(await rows.locator('td:nth-of-type(1)').allTextContents(), ['2', '1']);
    assert.equal(await rows.locator('time').count(), 2, 'last push time shown');
    await screenshot(page, 'repositories');

    await page.getByLabel('Search repositories').fill('tool');
    await page.waitForFunction(() => document.querySelectorAll('table.repos tbody tr').length === 1);
    assert.equal(await page.locator('table.repos tbody th').textContent(), 'other/tool');
    assert.match(page.url(), /#\/\?q=tool$/);
    await page.getByLabel('Search repositories').fill('zzz');
    await page.getByText('No repository name contains').waitFor();
  });

  test('tags: digest, size and platforms; sorted by name or date', async () => {
    const { page } = b;
    await go(page, `${w.url}/#/`);
    await page.getByRole('link', { name: 'demo/app' }).click();
    await settled(page);
    assert.equal(await page.locator('h1').textContent(), 'demo/app');
    const tags = () =>
      page.locator('table.tags tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-tag')));
    assert.deepEqual(await tags(), ['latest', 'v1']);
    const latest = page.locator('tr[data-tag="latest"]');
    assert.equal(await latest.locator('td.platforms').textContent(), 'linux/amd64, linux/arm64/v8');
    assert.equal(await latest.locator('.size').getAttribute('data-bytes'), String(fx.indexTotal));
    assert.equal(await latest.locator('.digest').getAttribute('title'), fx.index.digest);
    const v1 = page.locator('tr[data-tag="v1"]');
    assert.equal(await v1.locator('td.platforms').textContent(), 'linux/amd64');
    assert.equal(await v1.locator('.size').getAttribute('data-bytes'), String(fx.amd64.total));
    assert.equal(await v1.locator('.size').textContent(), `${(fx.amd64.total / 1000).toFixed(2)} kB`);
    assert.equal(
      await page.locator('table.tags button', { hasText: 'Delete' }).count(),
      2,
      'delete is enabled and allowed',
    );

    await page.locator('button[data-sort="date"]').click();
    assert.deepEqual(await tags(), ['v1', 'latest']);
    assert.equal(await page.locator('th[aria-sort="descending"] button').getAttribute('data-sort'), 'date');
    await page.locator('button[data-sort="name"]').click();
    assert.deepEqual(await tags(), ['latest', 'v1']);
    await screenshot(page, 'tags');
    await readmeShot(page, 'tags');
  });

  test('an index: platforms, sizes, total, pull commands, referrers with their artifact type', async () => {
    const { page } = b;
    await go(page, `${w.url}/#/demo/app:latest`);
    const platforms = page.locator('table.platforms-table tbody tr');
    assert.deepEqual(await platforms.locator('th').allTextContents(), ['linux/amd64', 'linux/arm64/v8']);
    assert.deepEqual(await platforms.locator('.size').evaluateAll((e) => e.map((x) => x.getAttribute('data-bytes'))), [
      String(fx.amd64.total),
      String(fx.arm64.total),
    ]);
    const facts = await page.locator('dl.facts').first().innerText();
    assert.match(facts, new RegExp(fx.index.digest));
    assert.match(facts, /application\/vnd\.oci\.image\.index\.v1\+json/);
    assert.equal(await page.locator('dl.facts .size').first().getAttribute('data-bytes'), String(fx.indexTotal));
    const host = new URL(w.url).host;
    assert.deepEqual(await page.locator('.pull code').allTextContents(), [
      `docker pull ${host}/demo/app:latest`,
      `podman pull --tls-verify=false ${host}/demo/app:latest`,
    ]);
    const ref = page.locator('table.referrers tbody tr');
    assert.equal(await ref.count(), 1);
    assert.equal(await ref.locator('th').textContent(), SBOM_TYPE);
    assert.equal(await ref.locator('.digest').getAttribute('title'), fx.referrer.digest);
    await screenshot(page, 'index');
    await readmeShot(page, 'image');

    await ref.getByRole('link').click();
    await settled(page);
    assert.match(
      await page.locator('dl.facts').first().innerText(),
      new RegExp(`Artifact type\\s+${SBOM_TYPE.replace(/[.+]/g, '\\$&')}`),
    );
  });

  test('an image: config, entrypoint, env, labels (HTML rendered as text), history, layers', async () => {
    const { page, dialogs } = b;
    await go(page, `${w.url}/#/demo/app:v1`);
    const text = await page.locator('main').innerText();
    assert.match(text, /Platform\s+linux\/amd64/);
    assert.match(text, /Entrypoint\s+\["\/bin\/demo"\]/);
    assert.match(text, /Cmd\s+\["--serve","--port=8080"\]/);
    assert.match(text, /DEMO_ARCH=amd64/);
    assert.equal(
      await page.locator('main time[datetime="2024-05-01T12:00:00.000Z"]').first().count(),
      1,
      'created time',
    );
    const labels = page.locator('table.labels tbody tr');
    assert.equal(await labels.count(), 2);
    assert.equal(await labels.nth(0).locator('td').textContent(), EVIL_LABEL, 'the label is shown as its text');
    assert.equal(await page.locator('main img').count(), 0, 'no element made from the label');
    assert.deepEqual(
      await page.locator('table.layers .size').evaluateAll((e) => e.map((x) => x.getAttribute('data-bytes'))),
      ['1500', '2500'],
    );
    assert.equal(await page.locator('table.history tbody tr').count(), 3);
    assert.equal(await page.locator('dl.facts .size').first().getAttribute('data-bytes'), String(fx.amd64.total));
    await page.waitForTimeout(200);
    assert.deepEqual(dialogs, [], 'no dialog fired');

    // The config fallback endpoint (for blob redirects the page may not follow) answers the same config.
    const manifest = (await (
      await fetch(`${w.url}/v2/demo/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })
    ).json()) as { config: { digest: string } };
    const viaUi = await fetch(`${w.url}/_ui/api/config?repository=demo/app&digest=${manifest.config.digest}`);
    assert.equal(viaUi.status, 200);
    assert.deepEqual(
      await viaUi.json(),
      await (await fetch(`${w.url}/v2/demo/app/blobs/${manifest.config.digest}`)).json(),
    );
    assert.equal(
      (await fetch(`${w.url}/_ui/api/config?repository=other/tool&digest=${manifest.config.digest}`)).status,
      404,
      'only blobs of that repository',
    );
    await screenshot(page, 'image');
  });

  test('states: manifest unknown, repository not found', async () => {
    const { page } = b;
    await go(page, `${w.url}/#/demo/app:nope`);
    assert.match(await page.locator('[data-state="notfound"]').innerText(), /Manifest unknown/);
    await go(page, `${w.url}/#/nope/nothing`);
    assert.match(await page.locator('[data-state="notfound"]').innerText(), /Repository not found/);
  });

  test('delete a tag, with confirmation', async () => {
    const { page } = b;
    await go(page, `${w.url}/#/demo/app`);
    await page.getByRole('button', { name: 'Delete tag v1' }).click();
    const dialog = page.locator('dialog#confirm');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /Delete tag v1\?/);
    await screenshot(page, 'delete-confirm');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await page.locator('tr[data-tag="v1"]').count(), 1, 'cancel keeps the tag');
    await page.getByRole('button', { name: 'Delete tag v1' }).click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await page.locator('tr[data-tag="v1"]').waitFor({ state: 'detached' });
    const head = (ref: string) =>
      fetch(`${w.url}/v2/demo/app/manifests/${ref}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
    assert.equal((await head('v1')).status, 404);
    assert.equal((await head(fx.amd64.digest)).status, 200, 'only the tag went');
    assert.match((await page.locator('#status').textContent()) ?? '', /Deleted tag v1|^$/);
  });

  test('phone width: no horizontal scrolling; keyboard: the skip link focuses the content', async () => {
    const phone = await openBrowser(390, 844);
    try {
      for (const hash of ['#/', '#/demo/app', '#/demo/app:latest']) {
        await go(phone.page, `${w.url}/${hash}`);
        const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${hash}: the page is ${overflow}px wider than the screen`);
      }
      await screenshot(phone.page, 'phone-image');
      const skip = phone.page.locator('a.skip');
      await skip.focus();
      assert.ok(((await skip.boundingBox())?.x ?? -1) >= 0, 'the skip link shows when focused');
      await phone.page.keyboard.press('Enter');
      assert.equal(await phone.page.evaluate(() => document.activeElement?.id), 'main');
      assert.match(phone.page.url(), /#\/demo\/app:latest$/);
      assert.deepEqual(unexpectedErrors(phone.errors), []);
    } finally {
      await phone.close();
    }
  });

  test('no CSP violation or script error on any page', () => {
    assert.deepEqual(unexpectedErrors(b.errors), []);
    assert.deepEqual(b.dialogs, []);
  });
});

describe('web UI: ui.path and ui.enabled', { skip: CHROMIUM_MISSING }, () => {
  test('under ui.path with an empty registry: the empty state; `/` stays empty for browsers too', async () => {
    const w = await startWharf({ config: configWith('ui: { path: /console }') });
    const b = await openBrowser();
    try {
      const root = await fetch(`${w.url}/`, { headers: { Accept: HTML_ACCEPT } });
      assert.equal(await root.text(), '');
      await go(b.page, `${w.url}/console`);
      assert.match(await b.page.locator('[data-state="empty"]').innerText(), /No repositories yet/);
      assert.match(
        await b.page.locator('[data-state="empty"] code').innerText(),
        new RegExp(`docker push ${new URL(w.url).host}/library/alpine:latest`),
      );
      await screenshot(b.page, 'empty');
      assert.equal((await fetch(`${w.url}/console/_ui/api/session`)).status, 200);
      assert.deepEqual(unexpectedErrors(b.errors), []);
    } finally {
      await b.close();
      await w.cleanup();
    }
  });

  test('ui.enabled: false serves nothing of the UI', async () => {
    const w = await startWharf({ config: configWith('ui: { enabled: false }') });
    try {
      const root = await fetch(`${w.url}/`, { headers: { Accept: HTML_ACCEPT } });
      assert.equal(root.status, 200);
      assert.equal(await root.text(), '');
      assert.equal((await fetch(`${w.url}/_ui/app.js`)).status, 404);
      assert.equal((await fetch(`${w.url}/_ui/api/session`)).status, 404);
    } finally {
      await w.cleanup();
    }
  });
});
