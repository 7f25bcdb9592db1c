/**
 * The web UI's copyable commands match how the registry is reached (Debian's chromium, the real server):
 * - plain HTTP on 127.0.0.1: docker needs nothing (it trusts 127.0.0.0/8 over HTTP), podman needs
 *   `--tls-verify=false` (it refuses plain HTTP even from localhost), no insecure-registries note;
 * - plain HTTP on a non-loopback address: the same podman flag, and the note that docker needs the registry in
 *   `insecure-registries`;
 * - HTTPS: no flag and no note.
 * Also: a repository list that fits on one page ends with its table (no pager, no literal "null" after it).
 */
import assert from 'node:assert/strict';
import { networkInterfaces, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { startWharf, testConfig, type Wharf } from './harness.js';
import { makeTlsFixtures, OPENSSL, OPENSSL_MISSING, type TlsFixtures } from './tls-certs.js';
import { CHROMIUM, CHROMIUM_MISSING, go, openBrowser, pushFixture, screenshot, type Browser } from './ui-helpers.js';

/** An IPv4 address of this machine that is not loopback, or null. */
function externalIPv4(): string | null {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return null;
}

const EXTERNAL = externalIPv4();

async function pullTexts(b: Browser, url: string): Promise<{ commands: string[]; hint: string | null }> {
  await go(b.page, `${url}/#/demo/app:latest`);
  const commands = await b.page.locator('.pull code').allTextContents();
  const hint =
    (await b.page.locator('.pull p.hint').count()) > 0 ? await b.page.locator('.pull p.hint').innerText() : null;
  return { commands, hint };
}

describe('web UI: pull commands match the scheme and host', { skip: CHROMIUM_MISSING }, () => {
  let b: Browser;
  const started: Wharf[] = [];
  before(async () => {
    b = await openBrowser();
  });
  after(async () => {
    await b?.close();
    for (const w of started) await w.cleanup();
  });

  test('one page of repositories has no pager and no "null"; plain HTTP on 127.0.0.1: podman gets --tls-verify=false, docker nothing', async () => {
    const w = await startWharf();
    started.push(w);
    await pushFixture(w.url);

    await go(b.page, `${w.url}/`);
    const results = b.page.locator('#results');
    assert.equal(await results.locator('table.repos tbody tr').count(), 2, 'demo/app and other/tool, one page');
    const children = await results.evaluate((el) =>
      [...el.childNodes].map((n) =>
        n.nodeType === Node.TEXT_NODE ? `text ${JSON.stringify(n.textContent)}` : n.nodeName,
      ),
    );
    assert.equal(children.length, 1, `the table only, no pager, no text after it: ${children.join(', ')}`);
    assert.equal(await results.locator('nav.pager').count(), 0);
    assert.doesNotMatch(await b.page.locator('main').innerText(), /\bnull\b/);

    const host = new URL(w.url).host;
    assert.deepEqual(await pullTexts(b, w.url), {
      commands: [`docker pull ${host}/demo/app:latest`, `podman pull --tls-verify=false ${host}/demo/app:latest`],
      hint: null,
    });
  });

  test(
    'plain HTTP on a non-loopback address: the podman flag and the insecure-registries note for docker',
    { skip: EXTERNAL ? false : 'this machine has no non-loopback IPv4 address' },
    async () => {
      const w = await startWharf({ config: testConfig({ host: '0.0.0.0' }), host: EXTERNAL! });
      started.push(w);
      await pushFixture(w.url);
      const host = `${EXTERNAL}:${w.port}`;
      const { commands, hint } = await pullTexts(b, w.url);
      assert.deepEqual(commands.slice(0, 2), [
        `docker pull ${host}/demo/app:latest`,
        `podman pull --tls-verify=false ${host}/demo/app:latest`,
      ]);
      assert.equal(commands[2], `"insecure-registries": ["${host}"]`);
      assert.match(
        hint ?? '',
        /Docker pulls from it only once "insecure-registries": \[".+"\] is in \/etc\/docker\/daemon\.json/,
      );
      await screenshot(b.page, 'pull-hints-plain-http');
    },
  );

  test('HTTPS: no flag, no note', { skip: OPENSSL ? false : OPENSSL_MISSING }, async () => {
    let fx: TlsFixtures | undefined;
    const profile = mkdtempSync(join(tmpdir(), 'wharf-ui-tls-profile-'));
    try {
      fx = makeTlsFixtures();
      const tls = `  tls:\n    certificate: ${fx.server.cert}\n    key: ${fx.server.key}\n`;
      const w = await startWharf({ config: testConfig({ http: tls }), tls: { ca: fx.ca.cert } });
      started.push(w);
      // The fixture is pushed over plain HTTP by the helpers' fetch: push it to a twin on the same data instead.
      const twin = await startWharf({ dir: w.dir, config: testConfig() });
      await pushFixture(twin.url);
      await twin.stop();
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        ignoreHTTPSErrors: true,
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
      });
      try {
        const page = context.pages()[0] ?? (await context.newPage());
        await go(page, `${w.url}/#/demo/app:latest`);
        const host = new URL(w.url).host;
        assert.deepEqual(await page.locator('.pull code').allTextContents(), [
          `docker pull ${host}/demo/app:latest`,
          `podman pull ${host}/demo/app:latest`,
        ]);
        assert.equal(await page.locator('.pull p.hint').count(), 0);
      } finally {
        await context.close();
      }
    } finally {
      fx?.remove();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
