/**
 * Fail closed, end to end: the real `wharf serve` started with each mistyped security config either exits
 * non-zero naming the key, or answers 401: it never serves /v2/ without auth. `wharf config check` exits 1 on
 * each with the same message. Debian's shipped /etc/docker/registry/config.yml (htpasswd path = a directory)
 * stops the start naming the key and the path; the tutorial's `realm: silly-realm` starts with a warning.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configWith, MAIN, startWharf, type Wharf } from './harness.js';
import { writeHtpasswd } from './tls-certs.js';

/** Runs `wharf config check <file>`; resolves with its exit code and stderr. */
async function configCheck(path: string): Promise<{ code: number | null; stderr: string }> {
  const p = spawn(process.execPath, [MAIN, 'config', 'check', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr!.on('data', (d) => (stderr += d));
  const [code] = (await once(p, 'exit')) as [number | null];
  return { code, stderr };
}

/**
 * Starts wharf with `config` and returns the exit code when it refuses to start; when it does start, asserts
 * that /v2/ and /v2/_catalog answer 401 and returns 'serving'.
 */
async function startOrRefuse(w: Wharf): Promise<number | 'serving'> {
  for (;;) {
    if (w.proc.exitCode !== null) return w.proc.exitCode;
    if (w.proc.signalCode !== null) assert.fail(`wharf died of ${w.proc.signalCode}:\n${w.output()}`);
    try {
      const v2 = await fetch(`${w.url}/v2/`);
      await v2.arrayBuffer();
      assert.equal(v2.status, 401, `GET /v2/ must not be served without auth:\n${w.output()}`);
      const catalog = await fetch(`${w.url}/v2/_catalog`);
      await catalog.arrayBuffer();
      assert.equal(catalog.status, 401, 'GET /v2/_catalog must not be served without auth');
      return 'serving';
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      await new Promise((r) => setTimeout(r, 50)); // not listening (yet), or exited
    }
  }
}

describe('a mistyped security config never serves /v2/ without auth', () => {
  let work: string;
  let htpasswd: string;
  const started: Wharf[] = [];

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-failclosed-'));
    htpasswd = join(work, 'htpasswd');
    writeHtpasswd(htpasswd, 'alice', 'secret');
  });
  after(async () => {
    for (const w of started) await w.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function expectRefused(name: string, extra: string, message: RegExp): Promise<void> {
    const w = await startWharf({ config: configWith(extra.replaceAll('{{htpasswd}}', htpasswd)), waitReady: false });
    started.push(w);
    const outcome = await startOrRefuse(w);
    assert.equal(outcome, 1, `${name}: wharf serve must refuse to start:\n${w.output()}`);
    assert.match(w.output(), message, name);
    const check = await configCheck(join(w.dir, 'config.yml'));
    assert.equal(check.code, 1, `${name}: config check must fail:\n${check.stderr}`);
    assert.match(check.stderr, message, name);
  }

  const CASES: Array<[string, string, RegExp]> = [
    [
      'misspelt method',
      'auth:\n  htpassword:\n    realm: r\n    path: {{htpasswd}}\n',
      /auth\.htpassword: unknown auth method "htpassword", did you mean htpasswd\?/,
    ],
    [
      'mis-cased method',
      'auth:\n  Htpasswd:\n    realm: r\n    path: {{htpasswd}}\n',
      /auth\.Htpasswd: unknown auth method "Htpasswd", did you mean htpasswd\?/,
    ],
    [
      'two methods',
      'auth:\n  htpasswd:\n    realm: r\n    path: {{htpasswd}}\n  none:\n',
      /auth: exactly one auth method may be configured, found htpasswd, none/,
    ],
    [
      'misspelt realm',
      'auth:\n  htpasswd:\n    relm: r\n    path: {{htpasswd}}\n',
      /auth\.htpasswd\.relm: unknown key, did you mean realm\?/,
    ],
    [
      'misspelt path',
      'auth:\n  htpasswd:\n    realm: r\n    pth: {{htpasswd}}\n',
      /auth\.htpasswd\.pth: unknown key, did you mean path\?/,
    ],
    [
      'token without service',
      'auth:\n  token:\n    realm: token-realm\n    issuer: registry-token-issuer\n    rootcertbundle: /root/certs/bundle\n',
      /auth\.token\.service: required \(the audience your token server puts in "aud"\)/,
    ],
    [
      'misspelt auth section',
      'auht:\n  htpasswd:\n    realm: r\n    path: {{htpasswd}}\n',
      /auht: unknown key, did you mean auth\?/,
    ],
    [
      'method outside auth',
      'auth:\nhtpasswd:\n  realm: r\n  path: {{htpasswd}}\n',
      /htpasswd: unknown key, did you mean auth\.htpasswd\?/,
    ],
    [
      'misspelt access rules',
      'auth:\n  htpasswd:\n    realm: r\n    path: {{htpasswd}}\naccess:\n  rules:\n    - accounts: [alice]\n      repos: ["**"]\n      actions: ["*"]\n',
      /access\.rules\.0\.repos: unknown key, did you mean repositories\?/,
    ],
  ];
  for (const [name, extra, message] of CASES) {
    test(`${name}: the start and config check are refused, naming the key`, () => expectRefused(name, extra, message));
  }

  test('a misspelt key next to the one it meant only warns, and the registry asks for credentials', async () => {
    const w = await startWharf({
      config: configWith(`auth:\n  htpasswd:\n    realm: r\n    relm: r\n    path: ${htpasswd}\n`),
      waitReady: false,
    });
    started.push(w);
    assert.equal(await startOrRefuse(w), 'serving');
    assert.match(w.output(), /config: auth\.htpasswd\.relm: unknown key, did you mean realm\? \(ignored\)/);
  });

  test("the tutorial's silly realm starts with a warning that clients will fail", async () => {
    const w = await startWharf({
      config: configWith('auth:\n  silly:\n    realm: silly-realm\n    service: silly-service\n'),
      waitReady: false,
    });
    started.push(w);
    assert.equal(await startOrRefuse(w), 'serving');
    assert.match(w.output(), /auth\.silly\.realm: \\"silly-realm\\" is not an absolute http\(s\) URL/);
  });

  test("Debian's shipped config.yml stops the start naming auth.htpasswd.path and the directory", async () => {
    const shipped = readFileSync(
      fileURLToPath(new URL('../../../test/fixtures/debian-docker-registry-config.yml', import.meta.url)),
      'utf8',
    );
    // The shipped file as it is, but with its directories in the test's temp dir and listening on a free port.
    const etc = join(work, 'etc-docker-registry');
    mkdirSync(etc, { recursive: true });
    const text = shipped
      .replace('path: /etc/docker/registry\n', `path: ${etc}\n`)
      .replace('rootdirectory: /var/lib/docker-registry\n', 'rootdirectory: {{data}}\n')
      .replace('addr: :5000\n', 'addr: 127.0.0.1:{{port}}\n');
    assert.notEqual(text, shipped);
    const w = await startWharf({ config: text, waitReady: false });
    started.push(w);
    assert.equal(await startOrRefuse(w), 1, w.output());
    assert.match(
      w.output(),
      new RegExp(
        `auth\\.htpasswd\\.path: ${etc.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is a directory, not an htpasswd file`,
      ),
    );
    assert.doesNotMatch(w.output(), /EISDIR/);
    writeFileSync(
      join(w.dir, 'config.yml'),
      text.replaceAll('{{data}}', w.dataDir).replaceAll('{{port}}', String(w.port)),
    );
    const check = await configCheck(join(w.dir, 'config.yml'));
    assert.equal(check.code, 1, check.stderr);
    assert.match(check.stderr, /error: auth\.htpasswd\.path: \S+ is a directory, not an htpasswd file/);
  });
});
