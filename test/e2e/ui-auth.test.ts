/**
 * The web UI with authentication, in a real browser against the real server, once per method:
 * htpasswd (Basic, the UI's login form with the same credentials) and token (the built-in token server: the page
 * fetches tokens from the realm), both behind access rules:
 * - anonymous: "sign in required"; a wrong password is refused with a message;
 * - alice (pull on demo/** and other/** only): sees only those repositories, no delete control, "access denied"
 *   on secret/x; nothing of the credentials in the URL, localStorage, sessionStorage or cookies;
 * - sign out: back to anonymous; carol (admin): every repository, delete controls, deletes a tag.
 * Screenshots go to test-artifacts/ui/.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { DEFAULT_TEST_CONFIG, startWharf, type Wharf } from './harness.js';
import {
  CHROMIUM_MISSING,
  go,
  OCI_MANIFEST,
  openBrowser,
  pushFixture,
  pushImage,
  screenshot,
  settled,
  unexpectedErrors,
  type AuthFor,
  type Browser,
} from './ui-helpers.js';

const USERS = { alice: 'alice-UI-pa55', carol: 'carol-UI-pa55' };
const RULES = `access:
  groups: { admins: [carol] }
  rules:
    - { accounts: [group:admins], repositories: ["**"], actions: ["*"], catalog: true }
    - { accounts: [alice], repositories: ["demo/**", "other/**"], actions: [pull], catalog: true }
`;
const BASE = DEFAULT_TEST_CONFIG;

const basic = (user: keyof typeof USERS) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${USERS[user]}`).toString('base64')}`,
});

interface Method {
  name: string;
  config: string;
  /** How the test itself pushes, as carol. */
  pusher: (url: string) => AuthFor;
}

const METHODS: Method[] = [
  {
    name: 'htpasswd',
    config: `${BASE}auth:\n  htpasswd: { realm: wharf, path: {{dir}}/users }\n${RULES}`,
    pusher: () => async () => basic('carol'),
  },
  {
    name: 'token',
    config: `${BASE}auth:
  token: { realm: "http://127.0.0.1:{{port}}/auth/token", service: wharf, issuer: wharf-issuer, rootcertbundle: {{dir}}/token.crt }
tokenserver: { issuer: wharf-issuer, service: wharf, htpasswd: {{dir}}/users, key: {{dir}}/keys/token.key, certificate: {{dir}}/token.crt }
${RULES}`,
    pusher: (url) => async (repo, actions) => {
      const q = new URLSearchParams({ service: 'wharf', scope: `repository:${repo}:${actions.join(',')}` });
      const r = await fetch(`${url}/auth/token?${q}`, { headers: basic('carol') });
      const j = (await r.json()) as { token: string };
      return { Authorization: `Bearer ${j.token}` };
    },
  },
];

for (const method of METHODS) {
  describe(`web UI with auth.${method.name} and access rules`, { skip: CHROMIUM_MISSING }, () => {
    let w: Wharf;
    let b: Browser;

    before(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-ui-'));
      writeFileSync(
        join(dir, 'users'),
        Object.entries(USERS)
          .map(([u, p]) => `${u}:${bcrypt.hashSync(p, 5)}\n`)
          .join(''),
        { mode: 0o600 },
      );
      try {
        w = await startWharf({ dir, config: method.config });
      } catch (err) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      const auth = method.pusher(w.url);
      await pushFixture(w.url, auth);
      await pushImage(w.url, 'secret/x', '1.0', { arch: 'amd64', layers: [600] }, auth);
      b = await openBrowser();
    });
    after(async () => {
      await b?.close();
      await w?.cleanup();
    });

    const signIn = async (user: string, password: string) => {
      const { page } = b;
      await page.getByRole('link', { name: 'Sign in' }).first().click();
      await page.getByLabel('User name').fill(user);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
    };

    test('anonymous: sign in required; a wrong password is refused', async () => {
      const { page } = b;
      await go(page, `${w.url}/`);
      assert.match(await page.locator('[data-state="login"]').innerText(), /Sign in required/);
      await signIn('alice', 'wrong-password');
      await page.locator('#login-error', { hasText: 'Wrong user name or password.' }).waitFor();
      assert.equal(
        await page.locator('#session').getByRole('link', { name: 'Sign in' }).count(),
        1,
        'still signed out',
      );
    });

    test('alice sees only what she may pull, no delete control, and a denied state', async () => {
      const { page } = b;
      await go(page, `${w.url}/`);
      await signIn('alice', USERS.alice);
      await page.waitForURL(/#\/$/);
      await settled(page);
      assert.equal(await page.locator('#session .who').textContent(), 'Signed in as alice');
      assert.deepEqual(await page.locator('table.repos tbody th').allTextContents(), ['demo/app', 'other/tool']);

      await go(page, `${w.url}/#/demo/app`);
      assert.deepEqual(
        await page.locator('table.tags tbody tr').evaluateAll((r) => r.map((x) => x.getAttribute('data-tag'))),
        ['latest', 'v1'],
      );
      assert.equal(await page.locator('table.tags button').filter({ hasText: 'Delete' }).count(), 0);
      await go(page, `${w.url}/#/demo/app:v1`);
      assert.match(await page.locator('main').innerText(), /Platform\s+linux\/amd64/);
      assert.equal(await page.getByRole('button', { name: 'Delete manifest' }).count(), 0);

      await go(page, `${w.url}/#/secret/x`);
      const denied = page.locator('[data-state="denied"]');
      assert.match(await denied.innerText(), /Access denied[\s\S]*alice may not see repository secret\/x/);
      await screenshot(page, `denied-${method.name}`);

      const stored = await page.evaluate(() => ({
        local: localStorage.length,
        session: sessionStorage.length,
        cookie: document.cookie,
        url: location.href,
      }));
      assert.deepEqual({ ...stored, url: undefined }, { local: 0, session: 0, cookie: '', url: undefined });
      assert.ok(!stored.url.includes(USERS.alice) && !stored.url.includes('alice:'), 'no credentials in the URL');
    });

    test('sign out, then carol (admin) sees everything and deletes a tag', async () => {
      const { page } = b;
      await page.locator('#session').getByRole('button', { name: 'Sign out' }).click();
      await settled(page);
      assert.equal(await page.locator('[data-state="login"]').count(), 1, 'secret/x asks to sign in again');

      await signIn('carol', USERS.carol);
      await page.waitForURL(/#\/secret\/x$/);
      await settled(page);
      assert.equal(await page.locator('table.tags tbody tr').count(), 1, 'back on secret/x, now allowed');
      await go(page, `${w.url}/#/`);
      assert.deepEqual(await page.locator('table.repos tbody th').allTextContents(), [
        'demo/app',
        'other/tool',
        'secret/x',
      ]);
      await go(page, `${w.url}/#/demo/app`);
      await page.getByRole('button', { name: 'Delete tag v1' }).click();
      await page.locator('dialog#confirm').getByRole('button', { name: 'Delete' }).click();
      await page.locator('tr[data-tag="v1"]').waitFor({ state: 'detached' });
      const head = await fetch(`${w.url}/v2/demo/app/manifests/v1`, {
        method: 'HEAD',
        headers: { Accept: OCI_MANIFEST, ...(await method.pusher(w.url)('demo/app', ['pull'])) },
      });
      assert.equal(head.status, 404);
      await screenshot(page, `admin-${method.name}`);
      assert.deepEqual(unexpectedErrors(b.errors), []);
      assert.deepEqual(b.dialogs, []);
    });
  });
}
