/**
 * `auth.htpasswd` end to end against the real process: Basic challenges and 401 bodies byte for byte (also
 * against `docker-registry serve` on the same file), the tutorial's curl examples, hot reload of the file (Apache
 * `htpasswd` adds, changes and deletes users), refusal of non-bcrypt and malformed entries with a log that names
 * the line and the user, creation of a missing file, the brute-force limit per address and per user, a log that
 * never holds a credential, and skopeo logging in, pushing and pulling.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import {
  answer,
  CHALLENGED_REQUESTS,
  DOCKER_REGISTRY_BIN,
  DOCKER_REGISTRY_MISSING,
  startDistributionWithAuth,
  type RunningDistribution,
} from './authcompat.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256, startWharf, testConfig, type Wharf } from './harness.js';
import { LayoutReader, OciLayout, type BuiltImage } from './ocilayout.js';
import { copy, onPath, run, SKOPEO, SKOPEO_MISSING, skopeo } from './skopeo.js';

const HTPASSWD = onPath('htpasswd');
const HTPASSWD_MISSING = 'htpasswd (apache2-utils) is not on PATH (CI installs it; apt-get install apache2-utils)';
const CURL = onPath('curl');
const CURL_MISSING = 'curl is not on PATH';

const REALM = 'Registry Realm';
const ALICE = 'alice-Pa55-e2e';
const WRONG = 'Wr0ng-Pa55-e2e';

const UNAUTHORIZED_CATALOG =
  '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"registry","Class":"","Name":"catalog","Action":"*"}]}]}\n';
const UNAUTHORIZED_BASE = '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n';
const FOO_PULL_PUSH =
  '{"Type":"repository","Class":"","Name":"foo","Action":"pull"},{"Type":"repository","Class":"","Name":"foo","Action":"push"}';
const UNAUTHORIZED_UPLOAD = `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[${FOO_PULL_PUSH}]}]}\n`;
const UNAUTHORIZED_MOUNT = `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[${FOO_PULL_PUSH},{"Type":"repository","Class":"","Name":"library/bar","Action":"pull"}]}]}\n`;

/** A bcrypt line in the `$2y$` form Apache's `htpasswd -B` writes. */
function bcryptLine(user: string, password: string): string {
  return `${user}:$2y$${bcrypt.hashSync(password, 5).slice(4)}\n`;
}

function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

function config(extra = '', level = 'info'): string {
  return testConfig({
    logLevel: level,
    accessLog: true,
    storage: '',
    extra: `auth:\n  htpasswd:\n    realm: ${REALM}\n    path: {{dir}}/auth/htpasswd\n${extra}`,
  });
}

async function status(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<number> {
  const r = await fetch(url, { method, headers });
  await r.arrayBuffer();
  return r.status;
}

/** Polls `check` until it holds or `ms` pass; returns whether it held. */
async function eventually(check: () => Promise<boolean> | boolean, ms = 4000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function occurrences(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

/** Starts wharf with an htpasswd file holding `lines` at `<dir>/auth/htpasswd` (no file when `lines` is null). */
async function startWithFile(lines: string | null, extra = '', level = 'info'): Promise<{ w: Wharf; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-htpasswd-'));
  const file = join(dir, 'auth', 'htpasswd');
  if (lines !== null) {
    mkdirSync(join(dir, 'auth'), { mode: 0o700 });
    writeFileSync(file, lines, { mode: 0o600 });
  }
  try {
    return { w: await startWharf({ dir, config: config(extra, level) }), file };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

describe('auth.htpasswd', () => {
  let w: Wharf;
  let file: string;
  const alice = () => basic('alice', ALICE);

  before(async () => {
    // A limit no test here reaches: polling for reloads records failures too. The limit has its own suite below.
    ({ w, file } = await startWithFile(bcryptLine('alice', ALICE), 'bruteforce:\n  maxfailures: 10000\n'));
  });

  after(async () => {
    await w?.cleanup();
  });

  test('without credentials: Basic challenge and the exact 401 bodies', async () => {
    const challenge = `Basic realm="${REALM}"`;
    const catalog = await answer(w.url, 'GET', '/v2/_catalog');
    assert.deepEqual(catalog, { status: 401, challenge, body: UNAUTHORIZED_CATALOG });
    assert.deepEqual(await answer(w.url, 'GET', '/v2/'), { status: 401, challenge, body: UNAUTHORIZED_BASE });
    assert.deepEqual(await answer(w.url, 'POST', '/v2/foo/blobs/uploads/'), {
      status: 401,
      challenge,
      body: UNAUTHORIZED_UPLOAD,
    });
    assert.deepEqual(await answer(w.url, 'POST', `/v2/foo/blobs/uploads/?mount=${sha256('x')}&from=library/bar`), {
      status: 401,
      challenge,
      body: UNAUTHORIZED_MOUNT,
    });
    const r = await fetch(`${w.url}/v2/_catalog`);
    await r.arrayBuffer();
    assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(r.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  test('a wrong password or an unknown user gets the same challenge and body', async () => {
    for (const headers of [
      basic('alice', WRONG),
      basic('mallory', ALICE),
      basic('alice', ''),
      { Authorization: 'Bearer x' },
    ]) {
      assert.deepEqual(
        await answer(w.url, 'GET', '/v2/_catalog', headers),
        { status: 401, challenge: `Basic realm="${REALM}"`, body: UNAUTHORIZED_CATALOG },
        JSON.stringify(headers),
      );
    }
    assert.equal(await status(`${w.url}/v2/_catalog`, alice()), 200);
  });

  test(
    'the same challenges and bodies as docker-registry serve with the same htpasswd file',
    { skip: DOCKER_REGISTRY_BIN ? false : DOCKER_REGISTRY_MISSING },
    async () => {
      let d: RunningDistribution | undefined;
      try {
        d = await startDistributionWithAuth(`  htpasswd:\n    realm: ${REALM}\n    path: ${file}\n`);
        for (const { method, path } of CHALLENGED_REQUESTS) {
          for (const headers of [{}, basic('alice', WRONG)]) {
            const ours = await answer(w.url, method, path, headers);
            const theirs = await answer(d.url, method, path, headers);
            assert.deepEqual(ours, theirs, `${method} ${path} ${JSON.stringify(headers)}`);
            assert.equal(ours.status, 401);
          }
        }
        // And both let alice in.
        assert.equal(await status(`${d.url}/v2/_catalog`, alice()), 200);
        assert.equal(await status(`${w.url}/v2/_catalog`, alice()), 200);
      } finally {
        await d?.stop();
      }
    },
  );

  test("the tutorial's examples: push ubuntu:latest, then catalog and tags list need the credentials", async () => {
    const auth = alice();
    const configBytes = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const layerBytes = Buffer.from('htpasswd-e2e-layer');
    for (const data of [configBytes, layerBytes]) {
      const r = await fetch(`${w.url}/v2/ubuntu/blobs/uploads/?digest=${sha256(data)}`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/octet-stream' },
        body: new Uint8Array(data),
      });
      await r.arrayBuffer();
      assert.equal(r.status, 201);
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(configBytes), size: configBytes.length },
      layers: [{ mediaType: OCI_LAYER, digest: sha256(layerBytes), size: layerBytes.length }],
    };
    const put = await fetch(`${w.url}/v2/ubuntu/manifests/latest`, {
      method: 'PUT',
      headers: { ...auth, 'Content-Type': OCI_MANIFEST },
      body: JSON.stringify(manifest),
    });
    await put.arrayBuffer();
    assert.equal(put.status, 201);

    const tags = await fetch(`${w.url}/v2/ubuntu/tags/list`, { headers: auth });
    assert.equal(tags.status, 200);
    assert.deepEqual(await tags.json(), { name: 'ubuntu', tags: ['latest'] });
    assert.equal(await status(`${w.url}/v2/ubuntu/tags/list`), 401);
  });

  test("the tutorial's curl commands, run by curl", { skip: CURL ? false : CURL_MISSING }, async () => {
    const port = w.port;
    const ok = await run(CURL!, ['-sS', '-X', 'GET', `http://alice:${ALICE}@127.0.0.1:${port}/v2/_catalog`], 30_000);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), { repositories: ['ubuntu'] });
    const tagsCurl = await run(CURL!, ['-sS', `http://alice:${ALICE}@127.0.0.1:${port}/v2/ubuntu/tags/list`], 30_000);
    assert.deepEqual(JSON.parse(tagsCurl.stdout), { name: 'ubuntu', tags: ['latest'] });
    const anonymous = await run(CURL!, ['-sS', '-D', '-', `http://127.0.0.1:${port}/v2/_catalog`], 30_000);
    assert.match(anonymous.stdout, /^HTTP\/1\.1 401 /);
    assert.match(anonymous.stdout, /\r\nWWW-Authenticate: Basic realm="Registry Realm"\r\n/i);
    assert.ok(anonymous.stdout.endsWith(`\r\n\r\n${UNAUTHORIZED_CATALOG}`), anonymous.stdout);
    const wrong = await run(
      CURL!,
      ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://alice:${WRONG}@127.0.0.1:${port}/v2/_catalog`],
      30_000,
    );
    assert.equal(wrong.stdout, '401');
  });

  describe('hot reload', { skip: HTPASSWD ? false : HTPASSWD_MISSING }, () => {
    const htpasswd = (...args: string[]) => run(HTPASSWD!, args, 30_000);

    test('a user added with htpasswd -Bb can log in without a restart', async () => {
      assert.equal(await status(`${w.url}/v2/_catalog`, basic('bob', 'bob-pw-1')), 401);
      const r = await htpasswd('-Bb', file, 'bob', 'bob-pw-1');
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        await eventually(async () => (await status(`${w.url}/v2/_catalog`, basic('bob', 'bob-pw-1'))) === 200),
        'bob was not let in within 4 s',
      );
      assert.equal(await status(`${w.url}/v2/_catalog`, alice()), 200, 'alice is still there');
    });

    test('a bcrypt line made with htpasswd -nbB and appended is picked up', async () => {
      const r = await htpasswd('-nbB', 'carol', 'carol-pw');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^carol:\$2y\$/);
      appendFileSync(file, r.stdout.trim() + '\n');
      assert.ok(
        await eventually(async () => (await status(`${w.url}/v2/_catalog`, basic('carol', 'carol-pw'))) === 200),
        'carol was not let in within 4 s',
      );
    });

    test('a changed password takes effect: the old one is refused, the new one accepted', async () => {
      assert.equal(
        await status(`${w.url}/v2/_catalog`, basic('bob', 'bob-pw-1')),
        200,
        'the old password was accepted (and cached) before the change',
      );
      const r = await htpasswd('-Bb', file, 'bob', 'bob-pw-2');
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        await eventually(async () => (await status(`${w.url}/v2/_catalog`, basic('bob', 'bob-pw-2'))) === 200),
        'the new password was not accepted within 4 s',
      );
      assert.equal(await status(`${w.url}/v2/_catalog`, basic('bob', 'bob-pw-1')), 401);
    });

    test('a user removed with htpasswd -D is refused', async () => {
      assert.equal(await status(`${w.url}/v2/_catalog`, basic('bob', 'bob-pw-2')), 200);
      const r = await htpasswd('-D', file, 'bob');
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        await eventually(async () => (await status(`${w.url}/v2/_catalog`, basic('bob', 'bob-pw-2'))) === 401),
        'bob was still let in after 4 s',
      );
      assert.equal(await status(`${w.url}/v2/_catalog`, alice()), 200);
      assert.equal(await status(`${w.url}/v2/_catalog`, basic('carol', 'carol-pw')), 200);
    });

    test('MD5, SHA1 and plain entries are refused and logged with user and reason; a malformed line with its number', async () => {
      const md5 = (await htpasswd('-nbm', 'md5user', 'md5-pw')).stdout.trim();
      const sha = (await htpasswd('-nbs', 'shauser', 'sha-pw')).stdout.trim();
      const plain = (await htpasswd('-nbp', 'plainuser', 'plain-Pa55-e2e')).stdout.trim();
      assert.match(md5, /^md5user:\$apr1\$/);
      assert.match(sha, /^shauser:\{SHA\}/);
      assert.equal(plain, 'plainuser:plain-Pa55-e2e');
      const before = readFileSync(file, 'utf8');
      // Lines: 1 alice, 2 comment, 3 blank, 4 md5, 5 sha, 6 plain, 7 malformed, 8 carol.
      const aliceLine = before.split('\n').find((l) => l.startsWith('alice:'))!;
      const carolLine = before.split('\n').find((l) => l.startsWith('carol:'))!;
      writeFileSync(
        file,
        [aliceLine, '# users below are refused', '', md5, sha, plain, 'line-without-a-colon', carolLine, ''].join('\n'),
      );
      const logLine = (pred: (l: string) => boolean) => w.output().split('\n').find(pred);
      assert.ok(
        await eventually(async () => {
          await status(`${w.url}/v2/_catalog`, alice());
          return logLine((l) => l.includes('user=plainuser')) !== undefined;
        }),
        `no reload logged:\n${w.output()}`,
      );
      const md5Log = logLine((l) => l.includes('user=md5user'));
      assert.ok(md5Log?.includes('line=4') && md5Log.includes('MD5') && md5Log.includes('bcrypt'), md5Log);
      const shaLog = logLine((l) => l.includes('user=shauser'));
      assert.ok(shaLog?.includes('line=5') && shaLog.includes('SHA'), shaLog);
      const plainLog = logLine((l) => l.includes('user=plainuser'));
      assert.ok(plainLog?.includes('line=6') && plainLog.includes('plain'), plainLog);
      const malformed = logLine((l) => l.includes('line=7'));
      assert.ok(malformed?.includes('malformed') && malformed.includes('line 7'), malformed);
      for (const line of [md5Log, shaLog, plainLog, malformed]) assert.match(line!, /level=error/);

      for (const [user, password] of [
        ['md5user', 'md5-pw'],
        ['shauser', 'sha-pw'],
        ['plainuser', 'plain-Pa55-e2e'],
      ]) {
        assert.equal(await status(`${w.url}/v2/_catalog`, basic(user, password)), 401, user);
      }
      assert.equal(await status(`${w.url}/v2/_catalog`, alice()), 200, 'valid entries around refused ones still work');
      assert.equal(await status(`${w.url}/v2/_catalog`, basic('carol', 'carol-pw')), 200);
    });
  });

  describe('skopeo', { skip: SKOPEO ? false : SKOPEO_MISSING }, () => {
    let work: string;
    let layout: OciLayout;
    let image: BuiltImage;
    let reg: string;

    before(() => {
      work = mkdtempSync(join(tmpdir(), 'wharf-e2e-htpasswd-skopeo-'));
      layout = new OciLayout(join(work, 'layout'));
      image = layout.image('htpasswd', { os: 'linux', architecture: 'amd64' });
      layout.tag('v1', image.manifest);
      reg = `127.0.0.1:${w.port}`;
    });

    after(() => {
      if (work) rmSync(work, { recursive: true, force: true });
    });

    test('login, then push with the stored credentials; pull with --src-creds', async () => {
      const authfile = join(work, 'auth.json');
      const login = await skopeo([
        'login',
        '--tls-verify=false',
        '--authfile',
        authfile,
        '-u',
        'alice',
        '-p',
        ALICE,
        reg,
      ]);
      assert.equal(login.code, 0, login.stderr);
      const stored = JSON.parse(readFileSync(authfile, 'utf8')) as { auths: Record<string, { auth: string }> };
      assert.equal(Buffer.from(stored.auths[reg].auth, 'base64').toString(), `alice:${ALICE}`);
      await copy(`oci:${layout.dir}:v1`, `docker://${reg}/e2e/htpasswd:v1`, '--authfile', authfile);
      const out = join(work, 'pulled');
      await copy(
        `docker://${reg}/e2e/htpasswd:v1`,
        `oci:${out}:v1`,
        '--src-creds',
        `alice:${ALICE}`,
        '--authfile',
        join(work, 'none.json'),
      );
      const pulled = new LayoutReader(out);
      assert.equal(pulled.ref('v1').digest, image.manifest.digest);
      assert.deepEqual(pulled.blob(image.layers[0].digest), image.layers[0].bytes);
    });

    test('login, push and pull are refused with a wrong password', async () => {
      const authfile = join(work, 'wrong.json');
      const login = await skopeo([
        'login',
        '--tls-verify=false',
        '--authfile',
        authfile,
        '-u',
        'alice',
        '-p',
        WRONG,
        reg,
      ]);
      assert.notEqual(login.code, 0);
      assert.match(login.stderr, /invalid username\/password|401|unauthorized/i);
      await assert.rejects(
        copy(
          `oci:${layout.dir}:v1`,
          `docker://${reg}/e2e/htpasswd-wrong:v1`,
          '--dest-creds',
          `alice:${WRONG}`,
          '--authfile',
          authfile,
        ),
      );
      await assert.rejects(
        copy(
          `docker://${reg}/e2e/htpasswd:v1`,
          `oci:${join(work, 'not-pulled')}:v1`,
          '--src-creds',
          `alice:${WRONG}`,
          '--authfile',
          authfile,
        ),
      );
      assert.equal(await status(`${w.url}/v2/e2e/htpasswd-wrong/tags/list`, alice()), 404, 'nothing was pushed');
    });
  });

  test('the access log records the user but never a password or the Basic credentials', () => {
    const out = w.output();
    assert.ok(
      out.split('\n').some((l) => l.includes('msg=request') && l.includes('user=alice') && l.includes('status=200')),
      `no access-log line with user=alice:\n${out}`,
    );
    assert.ok(out.includes('msg=request') && out.includes('status=401'), 'refused requests are logged too');
    for (const secret of [ALICE, WRONG, 'bob-pw-1', 'bob-pw-2', 'carol-pw', 'plain-Pa55-e2e', 'md5-pw', 'sha-pw']) {
      assert.equal(occurrences(out, secret), 0, `the log contains ${secret}`);
    }
    for (const pair of [`alice:${ALICE}`, `alice:${WRONG}`, `bob:bob-pw-1`]) {
      const b64 = Buffer.from(pair).toString('base64');
      assert.equal(occurrences(out, b64), 0, `the log contains the base64 of ${pair}`);
      assert.equal(occurrences(out, b64.replace(/=+$/, '')), 0, `the log contains the unpadded base64 of ${pair}`);
    }
  });
});

describe('auth.htpasswd with a missing file', () => {
  let w: Wharf;
  let file: string;

  before(async () => {
    ({ w, file } = await startWithFile(null, '', 'warn'));
  });

  after(async () => {
    await w?.cleanup();
  });

  test('the file is created 0600 in a new 0700 directory with user docker, whose password is logged exactly once and works', async () => {
    assert.equal(statSync(join(w.dir, 'auth')).mode & 0o777, 0o700);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^docker:\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/);
    const m = /password=("?)([^\s"]+)\1/.exec(w.output());
    assert.ok(m, `no password in the log:\n${w.output()}`);
    const password = m[2];
    assert.ok(password.length >= 16, 'a password worth the name');
    assert.equal(await status(`${w.url}/v2/_catalog`, basic('docker', password)), 200);
    assert.equal(await status(`${w.url}/v2/_catalog`, basic('docker', `${password}x`)), 401);
    assert.equal(occurrences(w.output(), password), 1, 'the password is printed exactly once');
  });

  test('a restart on the existing file keeps it and prints no password', async () => {
    const before = readFileSync(file, 'utf8');
    await w.stop();
    const again = await startWharf({ dir: w.dir, config: config('', 'warn') });
    try {
      assert.equal(readFileSync(file, 'utf8'), before);
      assert.doesNotMatch(again.output(), /password=/);
    } finally {
      await again.stop('SIGKILL');
    }
  });
});

describe('auth.htpasswd login throttling (the full suite is throttle-limits.test.ts)', () => {
  let w: Wharf;

  before(async () => {
    ({ w } = await startWithFile(
      bcryptLine('alice', ALICE) + bcryptLine('bob', 'bob-pw'),
      'bruteforce:\n  maxfailures: 3\n  window: 1m\n  backoff:\n    initial: 2s\n    max: 1m\n',
    ));
  });

  after(async () => {
    await w?.cleanup();
  });

  /** GET /v2/_catalog from a given loopback address (Linux routes all of 127/8 to lo). */
  function from(
    localAddress: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(`${w.url}/v2/_catalog`, { headers, localAddress }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  test('3 failures for one user from one address -> 429 TOOMANYREQUESTS with Retry-After for that user from there only', async () => {
    for (let i = 0; i < 3; i++)
      assert.equal((await from('127.0.0.1', basic('alice', `${WRONG}${i}`))).status, 401, `failure ${i + 1}`);
    const blocked = await from('127.0.0.1', basic('alice', ALICE));
    assert.equal(blocked.status, 429, 'even the right password is refused while throttled');
    assert.ok(
      ['1', '2'].includes(blocked.retryAfter ?? ''),
      `Retry-After ${blocked.retryAfter}: backoff.initial (2s), counting down`,
    );
    const body = JSON.parse(blocked.body) as { errors: Array<{ code: string }> };
    assert.equal(body.errors[0].code, 'TOOMANYREQUESTS');
    assert.equal(
      (await from('127.0.0.1', basic('bob', 'bob-pw'))).status,
      200,
      'another user from that address is not throttled',
    );
    assert.equal((await from('127.0.0.2', basic('alice', ALICE))).status, 200, 'nor is alice from another address');
    assert.ok(
      await eventually(async () => (await from('127.0.0.1', basic('alice', ALICE))).status === 200, 6000),
      'the throttle did not lift',
    );
  });
});
