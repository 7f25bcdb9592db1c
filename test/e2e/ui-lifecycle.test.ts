/**
 * The web UI's cleanup preview in a real browser (Debian's chromium via playwright-core) against the real server
 * with lifecycle rules: opening the panel of a governed repository shows, per tag, what a cleanup run would do
 * (immutable and kept, kept, untagged, untagged in a later run because it was pushed within the grace period)
 * and the bytes it holds alone, and a summary with the counts and bytes the lifecycle API computed; a repository
 * no rule governs says so. The panel's figures are those of the server's plan, never recomputed in the page.
 */
import assert from 'node:assert/strict';
import { readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startWharf, testConfig, type Wharf } from './harness.js';
import { Fixture, pushItem } from './policies-fixture.js';
import {
  CHROMIUM_MISSING,
  go,
  openBrowser,
  screenshot,
  settled,
  unexpectedErrors,
  type Browser,
} from './ui-helpers.js';

const POLICIES = `gc:
  graceperiod: 10m
policies:
  - repositories: ["ci/**"]
    immutable: ["v*"]
    keep:
      - recent: 1
`;

interface Preview {
  untag: Array<{ tag: string }>;
  deferred: Array<{ tag: string }>;
  deleteManifests: unknown[];
  bytesFreed: number;
  tags: Array<{ tag: string; alone: number }>;
}

describe('web UI: cleanup preview', { skip: CHROMIUM_MISSING }, () => {
  let w: Wharf;
  let b: Browser;
  const f = new Fixture();

  before(async () => {
    w = await startWharf({ config: testConfig({ extra: POLICIES }) });
    for (const tag of ['v1', 'build-1', 'build-2']) await pushItem(w.url, f.image('ci/app', tag, tag, true, 0));
    await pushItem(w.url, f.image('other/lib', 'stable', 'lib', true, 0));
    // Those were pushed an hour ago (older than the grace period); the next two are not.
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const file of (readdirSync(w.dataDir, { recursive: true }) as string[]).map((p) => join(w.dataDir, p)))
      utimesSync(file, hourAgo, hourAgo);
    for (const tag of ['build-3', 'build-4']) await pushItem(w.url, f.image('ci/app', tag, tag, true, 0));
    b = await openBrowser();
  });
  after(async () => {
    await b?.close();
    await w?.cleanup();
  });

  async function openPanel(name: string): Promise<void> {
    await go(b.page, `${w.url}/#/${name}`);
    await b.page.locator('#lifecycle summary').click();
    await b.page.locator('#lifecycle .lifecycle-summary').waitFor();
    await settled(b.page);
  }

  test('a governed repository: each tag with its verdict and the bytes it holds alone, and the totals of the plan', async () => {
    const api = (await (await fetch(`${w.url}/_ui/api/lifecycle?repository=ci/app`)).json()) as Preview;
    assert.deepEqual(
      [api.untag.map((t) => t.tag).sort(), api.deferred.map((t) => t.tag)],
      [['build-1', 'build-2'], ['build-3']],
    );
    await openPanel('ci/app');
    const rows = await b.page
      .locator('#lifecycle tr[data-tag]')
      .evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-tag'), tr.getAttribute('data-cleanup')]));
    assert.deepEqual(Object.fromEntries(rows), {
      v1: 'immutable, kept',
      'build-1': 'untagged',
      'build-2': 'untagged',
      'build-3': 'untagged in a later run (pushed within the grace period)',
      'build-4': 'kept',
    });
    for (const t of api.tags) {
      assert.ok(t.alone > 0, `${t.tag} holds its own layer and config`);
      assert.equal(
        await b.page.locator(`#lifecycle tr[data-tag="${t.tag}"] .size`).getAttribute('data-bytes'),
        String(t.alone),
      );
    }
    const summary = b.page.locator('#lifecycle .lifecycle-summary');
    assert.match(
      (await summary.textContent()) ?? '',
      /^Rule policies\[0\] \(ci\/\*\*\): a cleanup run would untag 2 tags and delete 2 manifests, freeing /,
    );
    assert.ok(api.bytesFreed > 0);
    assert.equal(await summary.locator('.size').getAttribute('data-bytes'), String(api.bytesFreed));
    await screenshot(b.page, 'cleanup-preview');
  });

  test('a repository no rule governs says that cleanup keeps all of it', async () => {
    await openPanel('other/lib');
    assert.equal(
      await b.page.locator('#lifecycle .lifecycle-summary').textContent(),
      'No lifecycle rule governs this repository: cleanup keeps all of it.',
    );
    assert.deepEqual(
      await b.page
        .locator('#lifecycle tr[data-tag]')
        .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-cleanup'))),
      ['kept'],
    );
  });

  test('no script error or CSP violation', () => {
    assert.deepEqual(unexpectedErrors(b.errors), []);
    assert.deepEqual(b.dialogs, []);
  });
});
