/**
 * Process lifecycle end to end: SIGTERM drains (an upload in flight completes within `http.draintimeout`, new
 * connections are refused at once, the process exits 0 as soon as it is idle), `draintimeout: 0s` cuts requests
 * in flight, and SIGHUP re-reads the log level, reloads auth files and keeps the running config when the file
 * became invalid.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { freePort, sha256, testConfig, type Wharf } from './harness.js';
import { eventually, exitWithin, metric, refused, scrape, slowRequest, withWharf } from './ops.js';

function config(opts: { level?: string; drain?: string; extra?: string; debugPort?: number } = {}): string {
  const debug = opts.debugPort
    ? `  debug:\n    addr: 127.0.0.1:${opts.debugPort}\n    prometheus:\n      enabled: true\n`
    : '';
  return testConfig({
    logLevel: opts.level ?? 'info',
    accessLog: true,
    storage: '',
    http: `  draintimeout: ${opts.drain ?? '0s'}\n${debug}`,
    extra: opts.extra,
  });
}

async function status(url: string, init: RequestInit = {}): Promise<number> {
  const r = await fetch(url, init);
  await r.arrayBuffer();
  return r.status;
}

/** Waits until the server reports an upload request in flight (so a signal sent next finds it there). */
async function uploadInFlight(debugPort: number): Promise<void> {
  const seen = await eventually(
    async () => metric(await scrape(`http://127.0.0.1:${debugPort}/metrics`), 'registry_uploads_in_progress') === 1,
  );
  assert.ok(seen, 'the server never saw the upload');
}

/** Opens an upload session and returns the absolute URL to complete it with `?digest=`. */
async function session(w: Wharf, digest: string): Promise<string> {
  const r = await fetch(`${w.url}/v2/drain/blobs/uploads/`, { method: 'POST' });
  await r.arrayBuffer();
  assert.equal(r.status, 202);
  const u = new URL(r.headers.get('location')!, w.url);
  u.searchParams.set('digest', digest);
  return u.href;
}

describe('SIGTERM', () => {
  test('with no traffic the process exits 0 promptly', async () => {
    await withWharf(config({ drain: '30s' }), async (w) => {
      w.proc.kill('SIGTERM');
      assert.equal(await exitWithin(w.proc, 10_000), 0, w.output());
      assert.match(w.output(), /SIGTERM received: draining/);
    });
  });

  test('an upload in flight completes, new connections are refused meanwhile, then the process exits 0', async () => {
    // draintimeout is far longer than the test may wait: exiting proves the server noticed it was idle.
    const debugPort = await freePort();
    await withWharf(config({ drain: '60s', debugPort }), async (w) => {
      const first = Buffer.alloc(64 * 1024, 1);
      const second = Buffer.alloc(32 * 1024, 2);
      const digest = sha256(Buffer.concat([first, second]));
      // A keep-alive connection, as docker and skopeo use: after the response it is idle and must be closed too.
      const agent = new Agent({ keepAlive: true });
      try {
        const put = slowRequest(await session(w, digest), 'PUT', {}, agent);
        await put.write(first);
        await uploadInFlight(debugPort);
        w.proc.kill('SIGTERM');
        assert.ok(await eventually(() => refused(w.port)), 'new connections were still accepted after SIGTERM');
        assert.equal(w.proc.exitCode, null, 'exited while an upload was in flight');
        await put.write(second);
        put.end();
        const res = await put.response;
        assert.equal(res.status, 201, res.body);
        assert.equal(res.headers['docker-content-digest'], digest);
        assert.equal(await exitWithin(w.proc, 10_000), 0, `did not exit once idle:\n${w.output()}`);
      } finally {
        agent.destroy();
      }
      // The blob was committed before exit.
      const blob = readFileSync(
        join(w.dataDir, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data'),
      );
      assert.equal(sha256(blob), digest);
    });
  });

  test('with draintimeout 0s a request in flight is cut and the process exits 0', async () => {
    const debugPort = await freePort();
    await withWharf(config({ drain: '0s', debugPort }), async (w) => {
      const put = slowRequest(await session(w, sha256('never')), 'PUT');
      await put.write(Buffer.alloc(16 * 1024));
      await uploadInFlight(debugPort);
      w.proc.kill('SIGTERM');
      await assert.rejects(put.response, /socket hang up|ECONNRESET|EPIPE/);
      assert.equal(await exitWithin(w.proc, 10_000), 0, w.output());
    });
  });
});

describe('SIGHUP', () => {
  test('log.level changes take effect: access lines stop at error and come back at info', async () => {
    await withWharf(config({ level: 'info' }), async (w) => {
      const path = join(w.dir, 'config.yml');
      const original = readFileSync(path, 'utf8');
      assert.equal(await status(`${w.url}/v2/before-reload/tags/list`), 404);
      assert.ok(
        await eventually(() => w.output().includes('/v2/before-reload/tags/list')),
        'access log missing at info',
      );

      writeFileSync(path, original.replace('level: info', 'level: error'));
      w.proc.kill('SIGHUP');
      assert.ok(await eventually(() => w.output().includes('SIGHUP: log.level info -> error')), w.output());
      assert.equal(await status(`${w.url}/v2/at-error/tags/list`), 404);

      writeFileSync(path, original.replace('level: info', 'level: debug'));
      w.proc.kill('SIGHUP');
      assert.ok(
        await eventually(() => w.output().includes('SIGHUP: log.level error -> debug')),
        `change to a more verbose level not announced:\n${w.output()}`,
      );
      assert.equal(await status(`${w.url}/v2/at-debug/tags/list`), 404);
      assert.ok(
        await eventually(() => w.output().includes('/v2/at-debug/tags/list')),
        `access log did not come back at debug:\n${w.output()}`,
      );
      // Lines are written in order: the request made at error level would appear before the one at debug.
      assert.doesNotMatch(w.output(), /\/v2\/at-error\//, 'an access line was written at level error');
    });
  });

  test('with htpasswd, SIGHUP says it reloaded auth.htpasswd and the new file is used', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-'));
    writeFileSync(join(dir, 'htpasswd'), `alice:${bcrypt.hashSync('alice-pw', 5)}\n`);
    const extra = 'auth:\n  htpasswd:\n    realm: r\n    path: {{dir}}/htpasswd\n';
    await withWharf(
      config({ extra }),
      async (w) => {
        const bob = { Authorization: `Basic ${Buffer.from('bob:bob-pw').toString('base64')}` };
        assert.equal(await status(`${w.url}/v2/`, { headers: bob }), 401);
        writeFileSync(join(dir, 'htpasswd'), `bob:${bcrypt.hashSync('bob-pw', 5)}\n`);
        w.proc.kill('SIGHUP');
        assert.ok(await eventually(() => /SIGHUP: reloaded auth\.htpasswd/.test(w.output())), w.output());
        assert.equal(await status(`${w.url}/v2/`, { headers: bob }), 200);
      },
      dir,
    );
  });

  test('an invalid config on SIGHUP is refused with an error and the running one is kept', async () => {
    await withWharf(config({ level: 'info' }), async (w) => {
      const path = join(w.dir, 'config.yml');
      writeFileSync(path, readFileSync(path, 'utf8').replace('level: info', 'level: loud'));
      w.proc.kill('SIGHUP');
      assert.ok(
        await eventually(() => w.output().includes('SIGHUP: the configuration is invalid, keeping the running one')),
        w.output(),
      );
      assert.match(w.output(), /log\.level/);
      assert.equal(w.proc.exitCode, null);
      assert.equal(await status(`${w.url}/v2/still-serving/tags/list`), 404);
      assert.ok(
        await eventually(() => w.output().includes('/v2/still-serving/tags/list')),
        'level changed or server stopped logging',
      );
    });
  });
});
