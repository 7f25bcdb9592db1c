/**
 * `wharf htpasswd` as users run it: the built CLI as a process. Files it writes verify with Apache's `htpasswd -v`
 * and files Apache writes verify with it; -i, -D and -n; the password prompt driven through a pseudo-terminal
 * (util-linux `script`); and the files it writes let the right user into the real `wharf serve` and into
 * `docker-registry serve` (CNCF Distribution), while a wrong password gets 401.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DOCKER_REGISTRY_BIN, DOCKER_REGISTRY_MISSING, startDistributionWithAuth } from './authcompat.js';
import { MAIN, startWharf, testConfig } from './harness.js';
import { onPath } from './skopeo.js';

const APACHE = onPath('htpasswd');
const APACHE_MISSING = "Apache's htpasswd is not on PATH (apt-get install apache2-utils; .ci/run installs it)";
const SCRIPT = onPath('script');
const SCRIPT_MISSING = 'script (util-linux) is not on PATH: no pseudo-terminal to drive the password prompt';

const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-htpasswd-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const path = () => join(dir, `htpasswd-${++n}`);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command that exits without reading its stdin is not an error here.
    p.stdin.on('error', () => {});
    p.stdin.end(input ?? '');
  });
}

const wharf = (args: string[], input?: string) => run(process.execPath, [MAIN, 'htpasswd', ...args], input);
const apache = (args: string[], input?: string) => run(APACHE as string, args, input);

function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

async function status(url: string, headers: Record<string, string> = {}): Promise<number> {
  const r = await fetch(url, { headers });
  await r.arrayBuffer();
  return r.status;
}

/**
 * Runs `wharf htpasswd <args>` on a pseudo-terminal (`script -qec`, which returns the command's status) and types
 * each answer only once its question is shown, as a person would. Returns the status and what the terminal showed.
 */
function onTerminal(
  args: string[],
  dialogue: Array<[question: string, answer: string]>,
): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, MAIN, 'htpasswd', ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    const p = spawn(SCRIPT as string, ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    let step = 0;
    let from = 0;
    const onOutput = (d: Buffer) => {
      screen += d;
      for (let at; step < dialogue.length && (at = screen.indexOf(dialogue[step][0], from)) >= 0; step++) {
        from = at + dialogue[step][0].length;
        p.stdin.write(`${dialogue[step][1]}\r`);
      }
    };
    p.stdout.on('data', onOutput);
    p.stderr.on('data', onOutput);
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    });
  });
}

test('wharf --help lists htpasswd; wharf htpasswd --help, -h and wharf help htpasswd print its usage', async () => {
  const top = await run(process.execPath, [MAIN, '--help']);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /^ {2}htpasswd .*create and edit htpasswd files/m);
  for (const args of [
    ['htpasswd', '--help'],
    ['htpasswd', '-h'],
    ['help', 'htpasswd'],
  ]) {
    const r = await run(process.execPath, [MAIN, ...args]);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(
      r.stdout,
      /^Usage:\n {2}wharf htpasswd \[-ciBDv\] \[-C cost\] passwordfile username\n/,
      args.join(' '),
    );
  }
});

describe('wharf htpasswd and Apache htpasswd read each other', { skip: APACHE ? false : APACHE_MISSING }, () => {
  test('wharf -Bbc writes a 0600 $2y$ file that Apache -vb verifies', async () => {
    const f = path();
    const w = await wharf(['-Bbc', f, 'alice', 'Wh4rf-pw']);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stderr, 'Adding password for user alice\n');
    assert.match(readFileSync(f, 'utf8'), /^alice:\$2y\$05\$[./A-Za-z0-9]{53}\n$/);
    assert.equal(statSync(f).mode & 0o777, 0o600);

    const ok = await apache(['-vb', f, 'alice', 'Wh4rf-pw']);
    assert.deepEqual([ok.code, ok.stderr], [0, 'Password for user alice correct.\n']);
    const wrong = await apache(['-vb', f, 'alice', 'nope']);
    assert.equal(wrong.code, 3);

    // A second user at a higher cost, and an update; Apache still verifies both.
    assert.equal((await wharf(['-bC', '10', f, 'bob', 'B0b-pw'])).code, 0);
    const upd = await wharf(['-b', f, 'alice', 'N3w-pw']);
    assert.equal(upd.stderr, 'Updating password for user alice\n');
    assert.equal((await apache(['-vb', f, 'alice', 'N3w-pw'])).code, 0);
    assert.equal((await apache(['-vb', f, 'bob', 'B0b-pw'])).code, 0);
  });

  test('Apache -Bbc (and -C 10) writes files that wharf -vb verifies, with the same messages and statuses', async () => {
    const f = path();
    assert.equal((await apache(['-Bbc', f, 'alice', 'Ap4che-pw'])).code, 0);
    assert.equal((await apache(['-BbC', '10', f, 'bob', 'B0b-pw'])).code, 0);
    for (const [args, code] of [
      [['-vb', f, 'alice', 'Ap4che-pw'], 0],
      [['-vb', f, 'bob', 'B0b-pw'], 0],
      [['-vb', f, 'alice', 'wrong'], 3],
      [['-vb', f, 'nobody', 'x'], 6],
      [['-vb', join(dir, 'missing'), 'alice', 'x'], 1],
    ] as Array<[string[], number]>) {
      const [a, w] = await Promise.all([apache(args), wharf(args)]);
      assert.equal(w.code, code, `wharf htpasswd ${args.join(' ')}: ${w.stderr}`);
      assert.equal(a.code, code, `htpasswd ${args.join(' ')}: ${a.stderr}`);
      // Apache prefixes errors with its argv[0].
      assert.equal(
        w.stderr.replace(/^wharf htpasswd: /, 'htpasswd: '),
        a.stderr.replace(/^\S*htpasswd: /, 'htpasswd: '),
        args.join(' '),
      );
    }
  });

  test('-i reads the password from stdin (Apache verifies it), and -vi checks it', async () => {
    const f = path();
    writeFileSync(f, '');
    const w = await wharf(['-i', f, 'carol'], 'fr0m-stdin\n');
    assert.equal(w.code, 0, w.stderr);
    assert.equal((await apache(['-vb', f, 'carol', 'fr0m-stdin'])).code, 0);
    assert.equal((await wharf(['-vi', f, 'carol'], 'fr0m-stdin\n')).code, 0);
    assert.equal((await wharf(['-vi', f, 'carol'], 'other\n')).code, 3);
  });

  test('-D deletes a user from an Apache file, keeping comments and other users', async () => {
    const f = path();
    writeFileSync(f, '# team registry\n');
    assert.equal((await apache(['-Bb', f, 'alice', 'A-pw'])).code, 0);
    assert.equal((await apache(['-Bb', f, 'bob', 'B-pw'])).code, 0);
    const d = await wharf(['-D', f, 'alice']);
    assert.deepEqual([d.code, d.stderr], [0, 'Deleting password for user alice\n']);
    const text = readFileSync(f, 'utf8');
    assert.match(text, /^# team registry\nbob:\$2y\$05\$[./A-Za-z0-9]{53}\n$/);
    assert.equal((await apache(['-vb', f, 'alice', 'A-pw'])).code, 6, 'Apache no longer finds alice');
    assert.equal((await apache(['-vb', f, 'bob', 'B-pw'])).code, 0);
    const again = await wharf(['-D', f, 'alice']);
    const apacheAgain = await apache(['-D', f, 'alice']);
    assert.deepEqual([again.code, again.stderr], [apacheAgain.code, apacheAgain.stderr]);
  });

  test('-nb prints a record Apache accepts', async () => {
    const w = await wharf(['-nb', 'dave', 'D-pw']);
    assert.equal(w.code, 0);
    assert.equal(w.stderr, '');
    const f = path();
    writeFileSync(f, w.stdout);
    assert.equal((await apache(['-vb', f, 'dave', 'D-pw'])).code, 0);
  });
});

describe('the password prompt on a terminal', { skip: SCRIPT ? false : SCRIPT_MISSING }, () => {
  test('asks twice without echo; the file verifies', async () => {
    const f = path();
    const t = await onTerminal(
      ['-c', f, 'erin'],
      [
        ['New password: ', 'Typ3d-pw'],
        ['Re-type new password: ', 'Typ3d-pw'],
      ],
    );
    assert.equal(t.code, 0, t.screen);
    assert.match(t.screen, /New password: \r?\nRe-type new password: \r?\nAdding password for user erin/);
    assert.doesNotMatch(t.screen, /Typ3d-pw/, 'the password is not echoed');
    assert.equal((await wharf(['-vb', f, 'erin', 'Typ3d-pw'])).code, 0);
    if (APACHE) assert.equal((await apache(['-vb', f, 'erin', 'Typ3d-pw'])).code, 0);

    const v = await onTerminal(['-v', f, 'erin'], [['Enter password: ', 'Typ3d-pw']]);
    assert.equal(v.code, 0, v.screen);
    assert.match(v.screen, /Password for user erin correct\./);
  });

  test('a mismatch says "password verification error", exits 3 and leaves the file alone', async () => {
    const f = path();
    writeFileSync(f, '# empty\n');
    const t = await onTerminal(
      [f, 'erin'],
      [
        ['New password: ', 'first'],
        ['Re-type new password: ', 'second'],
      ],
    );
    assert.equal(t.code, 3, t.screen);
    assert.match(t.screen, /wharf htpasswd: password verification error/);
    assert.equal(readFileSync(f, 'utf8'), '# empty\n');
  });

  test('without a terminal the prompt is refused with a hint', async () => {
    const w = await wharf(['-c', path(), 'erin']);
    assert.equal(w.code, 2);
    assert.match(w.stderr, /stdin is not a terminal; use -i .* or -b/);
  });
});

describe('registries accept the files wharf htpasswd writes', () => {
  test('wharf serve: 200 with the password, 401 with a wrong one; a user added while it runs gets in', async () => {
    // The file exists before the start (else wharf would provision its own).
    const serveDir = mkdtempSync(join(tmpdir(), 'wharf-e2e-htpasswd-serve-'));
    const file = join(serveDir, 'htpasswd');
    const r = await wharf(['-Bbc', file, 'alice', 'S3rve-pw']);
    assert.equal(r.code, 0, r.stderr);
    const w = await startWharf({
      dir: serveDir,
      config: testConfig({
        storage: '',
        extra: 'auth:\n  htpasswd:\n    realm: wharf-htpasswd-cli\n    path: {{dir}}/htpasswd\n',
      }),
    });
    try {
      const catalog = `${w.url}/v2/_catalog`;
      assert.equal(await status(catalog, basic('alice', 'S3rve-pw')), 200);
      assert.equal(await status(catalog, basic('alice', 'wrong')), 401);
      assert.equal(await status(catalog), 401);

      // Adding a user rewrites the file atomically; the running registry picks it up (checked once a second).
      assert.equal((await wharf(['-b', file, 'bob', 'B0b-pw'])).code, 0);
      const until = Date.now() + 10_000;
      let got = 0;
      while ((got = await status(catalog, basic('bob', 'B0b-pw'))) !== 200 && Date.now() < until)
        await new Promise((r) => setTimeout(r, 200));
      assert.equal(got, 200, w.output());
      assert.equal(await status(catalog, basic('alice', 'S3rve-pw')), 200);
    } finally {
      await w.cleanup();
    }
  });

  test(
    'docker-registry serve (CNCF Distribution): 200 with the password, 401 with a wrong one',
    { skip: DOCKER_REGISTRY_BIN ? false : DOCKER_REGISTRY_MISSING },
    async () => {
      const f = path();
      const r = await wharf(['-Bbc', f, 'alice', 'D1stribution-pw']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await wharf(['-bC', '10', f, 'bob', 'B0b-pw'])).code, 0);
      const d = await startDistributionWithAuth(`  htpasswd:\n    realm: wharf-htpasswd-cli\n    path: ${f}\n`);
      try {
        const catalog = `${d.url}/v2/_catalog`;
        assert.equal(await status(catalog, basic('alice', 'D1stribution-pw')), 200, d.output());
        assert.equal(await status(catalog, basic('bob', 'B0b-pw')), 200, d.output());
        assert.equal(await status(catalog, basic('alice', 'wrong')), 401);
        assert.equal(await status(catalog), 401);
      } finally {
        await d.stop();
      }
    },
  );
});
