/**
 * Upload purging, log output and `wharf config check` end to end: abandoned upload sessions are removed (and
 * only logged with `dryrun`), the three formatters write what they promise with `log.fields`, the access log
 * carries method/path/status/bytes/duration/user/request id and never a credential, and `config check` prints
 * the effective config with secrets masked or every problem with its key path.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { MAIN, startWharf, testConfig, type Wharf } from './harness.js';
import { eventually, jsonLines, sleep, withWharf } from './ops.js';

/** `log` and `extra` are the lines under `log:` and under `storage:` (besides the filesystem driver). */
function config(opts: { log?: string; extra?: string } = {}): string {
  return testConfig({ log: opts.log ?? '  level: info\n', storage: opts.extra ?? '' });
}

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const r = await fetch(url, init);
  return { status: r.status, headers: r.headers, text: await r.text() };
}

interface Upload {
  uuid: string;
  /** Absolute URL of the session (with _state). */
  url: string;
}

async function startUpload(w: Wharf, name: string): Promise<Upload> {
  const r = await call(`${w.url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  assert.equal(r.status, 202, r.text);
  return { uuid: r.headers.get('docker-upload-uuid')!, url: new URL(r.headers.get('location')!, w.url).href };
}

const sessionDir = (w: Wharf, name: string, uuid: string) =>
  join(w.dataDir, 'docker/registry/v2/repositories', name, '_uploads', uuid);

describe('upload purging', () => {
  test('a session older than age is removed (404 BLOB_UPLOAD_UNKNOWN, directory gone); a younger one is kept', async () => {
    // The first run comes after a random delay up to min(30 min, interval) = 1 s, then every second.
    const purging =
      '  maintenance:\n    uploadpurging:\n      enabled: true\n      age: 3s\n      interval: 1s\n      dryrun: false\n';
    await withWharf(config({ extra: purging }), async (w) => {
      const old = await startUpload(w, 'purge/old');
      assert.ok(existsSync(sessionDir(w, 'purge/old', old.uuid)));
      await sleep(2000);
      // Started 2 s after `old`: when `old` passes 3 s and is purged, this one is at most 2 s old.
      const fresh = await startUpload(w, 'purge/fresh');
      assert.ok(
        await eventually(async () => (await call(old.url)).status === 404, 15_000),
        'the old session was never purged',
      );
      const gone = await call(old.url);
      assert.equal(JSON.parse(gone.text).errors[0].code, 'BLOB_UPLOAD_UNKNOWN');
      assert.equal(existsSync(sessionDir(w, 'purge/old', old.uuid)), false, '_uploads/<uuid> still on disk');
      assert.equal((await call(fresh.url)).status, 204, 'the fresh session was purged too');
      assert.ok(existsSync(sessionDir(w, 'purge/fresh', fresh.uuid)));
      assert.match(w.output(), /upload purging: removed abandoned uploads.*purged=1 kept=1/);
    });
  });

  test('dryrun keeps the session and logs what it would remove', async () => {
    const purging =
      '  maintenance:\n    uploadpurging:\n      enabled: true\n      age: 1s\n      interval: 1s\n      dryrun: true\n';
    await withWharf(config({ extra: purging }), async (w) => {
      const u = await startUpload(w, 'purge/dry');
      assert.ok(
        await eventually(() => w.output().includes('upload purging (dry run): would remove abandoned uploads'), 15_000),
        w.output(),
      );
      assert.equal((await call(u.url)).status, 204);
      assert.ok(existsSync(sessionDir(w, 'purge/dry', u.uuid)));
    });
  });
});

describe('log formatters', () => {
  const fields = '  fields:\n    service: wharf-e2e\n    environment: test\n';

  test('json: every line is a JSON object carrying log.fields', async () => {
    // An unknown key makes a warning line: its level is logrus' `warning`, as Distribution writes it.
    await withWharf(
      config({ log: `  level: info\n  formatter: json\n${fields}`, extra: '  unknownkey: 1\n' }),
      async (w) => {
        assert.equal((await call(`${w.url}/v2/json/tags/list`)).status, 404);
        assert.ok(await eventually(() => w.output().includes('/v2/json/tags/list')));
        const lines = w.output().trim().split('\n');
        assert.ok(lines.length >= 2);
        for (const line of lines) {
          const rec = JSON.parse(line) as Record<string, unknown>;
          assert.equal(rec.service, 'wharf-e2e', line);
          assert.equal(rec.environment, 'test', line);
          assert.equal(typeof rec.msg, 'string', line);
          assert.equal(typeof rec.level, 'string', line);
          assert.ok(!Number.isNaN(Date.parse(String(rec.time))), line);
        }
        const warning = jsonLines(w.output()).find((r) => String(r.msg).includes('storage.unknownkey'));
        assert.equal(warning?.level, 'warning', w.output());
        assert.ok(jsonLines(w.output()).some((r) => r.level === 'info' && r.msg === 'request'));
      },
    );
  });

  test('logstash: @timestamp, @version, message and log.fields', async () => {
    await withWharf(config({ log: `  level: info\n  formatter: logstash\n${fields}` }), async (w) => {
      assert.equal((await call(`${w.url}/v2/stash/tags/list`)).status, 404);
      assert.ok(await eventually(() => w.output().includes('/v2/stash/tags/list')));
      const lines = w.output().trim().split('\n');
      for (const line of lines) {
        const rec = JSON.parse(line) as Record<string, unknown>;
        assert.ok(!Number.isNaN(Date.parse(String(rec['@timestamp']))), line);
        assert.equal(rec['@version'], '1', line);
        assert.equal(typeof rec.message, 'string', line);
        assert.equal(rec.service, 'wharf-e2e', line);
      }
      assert.ok(jsonLines(w.output()).some((r) => r.level === 'info'));
    });
  });

  test('text: logrus-style key=value lines with level= and msg=', async () => {
    await withWharf(config({ log: `  level: info\n  formatter: text\n${fields}` }), async (w) => {
      assert.equal((await call(`${w.url}/v2/text/tags/list`)).status, 404);
      assert.ok(await eventually(() => w.output().includes('/v2/text/tags/list')));
      for (const line of w.output().trim().split('\n')) {
        assert.match(line, /^time=\S+ level=(info|warning|error) msg=/, line);
        assert.match(line, / service=wharf-e2e/, line);
      }
      assert.match(
        w.output(),
        /msg=request .*method=GET path=\/v2\/text\/tags\/list status=404 bytes=\d+ duration_ms=\S+ request_id=/,
      );
    });
  });

  test('log.accesslog.disabled: true writes no access lines', async () => {
    await withWharf(
      config({ log: '  level: info\n  formatter: json\n  accesslog:\n    disabled: true\n' }),
      async (w) => {
        assert.equal((await call(`${w.url}/v2/quiet/tags/list`)).status, 404);
        // A line written after the request: once it is there, an access line for the request would be too.
        w.proc.kill('SIGHUP');
        assert.ok(await eventually(() => w.output().includes('SIGHUP: reloaded')));
        assert.ok(jsonLines(w.output()).length >= 2);
        assert.equal(jsonLines(w.output()).filter((r) => r.msg === 'request').length, 0, w.output());
        assert.doesNotMatch(w.output(), /\/v2\/quiet/);
      },
    );
  });
});

describe('access log with htpasswd', () => {
  const USER = 'carol';
  const PASSWORD = 'c4r0l-S3cret-pw';
  const WRONG = 'n0t-c4r0ls-pw';
  const BEARER = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXRva2Vu';
  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
  let w: Wharf;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-'));
    writeFileSync(join(dir, 'htpasswd'), `${USER}:${bcrypt.hashSync(PASSWORD, 5)}\n`);
    w = await startWharf({
      dir,
      config: testConfig({
        log: '  level: debug\n  formatter: json\n',
        storage: '',
        extra: 'auth:\n  htpasswd:\n    realm: r\n    path: {{dir}}/htpasswd\n',
      }),
    });
  });
  after(() => w.cleanup());

  test('an access line has method, path, status, bytes, duration, user and request id', async () => {
    const r = await call(`${w.url}/v2/logged/tags/list`, { headers: { Authorization: basic(USER, PASSWORD) } });
    assert.equal(r.status, 404);
    assert.ok(await eventually(() => w.output().includes('/v2/logged/tags/list')));
    const line = jsonLines(w.output()).find((l) => l.msg === 'request' && l.path === '/v2/logged/tags/list')!;
    assert.equal(line.method, 'GET');
    assert.equal(line.status, 404);
    assert.equal(line.bytes, Buffer.byteLength(r.text));
    assert.equal(typeof line.duration_ms, 'number');
    assert.ok((line.duration_ms as number) >= 0);
    assert.equal(line.user, USER);
    assert.match(String(line.request_id), /^[0-9a-f-]{36}$/);
  });

  test('neither a password, nor the Authorization value, nor a Bearer token is ever written', async () => {
    const headers = [basic(USER, PASSWORD), basic(USER, WRONG), basic('mallory', WRONG), `Bearer ${BEARER}`];
    for (const h of headers) {
      await call(`${w.url}/v2/`, { headers: { Authorization: h } });
      await call(`${w.url}/v2/secret/blobs/uploads/`, { method: 'POST', headers: { Authorization: h } });
    }
    w.proc.kill('SIGHUP');
    assert.ok(await eventually(() => w.output().includes('SIGHUP: reloaded auth.htpasswd')), w.output());
    assert.ok(
      await eventually(() => w.output().includes('htpasswd: authentication failed')),
      'wrong passwords were not logged at all',
    );
    const out = w.output();
    for (const secret of [PASSWORD, WRONG, BEARER, ...headers.map((h) => h.split(' ')[1])]) {
      assert.equal(out.includes(secret), false, `the log holds ${secret}`);
    }
    assert.doesNotMatch(out, /authorization/i);
  });
});

describe('wharf config check', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function check(text: string): { status: number | null; stdout: string; stderr: string } {
    const path = join(dir, 'config.yml');
    writeFileSync(path, text);
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
    const r = spawnSync(process.execPath, [MAIN, 'config', 'check', path], { encoding: 'utf8', env });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  test('a good config prints the effective YAML with http.secret masked and exits 0', () => {
    const r = check(
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:5999\n  secret: do-not-print-me-42\n`,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\s+secret: "?\*{8}"?$/m);
    assert.match(r.stdout, /^\s+addr: 127\.0\.0\.1:5999$/m);
    assert.match(r.stdout, /^\s+draintimeout: 0$/m, 'defaults are part of the effective config');
    assert.equal(`${r.stdout}${r.stderr}`.includes('do-not-print-me-42'), false);
    assert.match(r.stderr, /configuration is valid/);
  });

  test('a bad config names every key path and exits 1', () => {
    const r = check(
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: "yes"\nhttp:\n  addr: 127.0.0.1:5999\n  draintimeout: [1]\n  bogus: 1\n`,
    );
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /error: storage\.delete\.enabled: /);
    assert.match(r.stderr, /error: http\.draintimeout: /);
    assert.match(r.stderr, /warning: http\.bogus: unknown key/);
    assert.match(r.stderr, /2 problem\(s\)/);
  });
});
