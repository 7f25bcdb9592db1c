/**
 * The npm package and the systemd unit, as a user installs them:
 * - `npm pack` makes a tarball of the prebuilt code (no sources, tests, maps); `npm install -g` of it into a
 *   temporary prefix needs no build and brings no dev dependency; the installed `wharf --version` (and
 *   `npx wharf --version`, resolved from that install, never from the registry) prints the version and the commit
 *   of this checkout; the installed `wharf serve` answers /v2/; the health-check script answers 0, then 1 once the
 *   server is gone; the sample /etc/wharf/config.yml passes `wharf config check`.
 * - `systemd-analyze verify` accepts wharf.service (with ExecStart pointing at that install), its `systemd-analyze
 *   security` exposure is no worse than docs/running.md states, and systemd-sysusers / systemd-tmpfiles create the
 *   user and directories from the sysusers.d and tmpfiles.d files in a scratch root.
 *
 * The tarball is packed with --ignore-scripts: `prepare` would rebuild dist/ while other test files run from it;
 * `npm test` has just built it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gitHead, REPO_ROOT } from './container.js';
import { freePort, testConfig } from './harness.js';
import { eventually } from './ops.js';
import { onPath, run } from './skopeo.js';

const NPM = onPath('npm');
const SYSTEMD_ANALYZE = onPath('systemd-analyze');
const NO_SYSTEMD = SYSTEMD_ANALYZE ? false : 'systemd-analyze is not on PATH (CI installs it; apt-get install systemd)';
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
};
const UNIT = join(REPO_ROOT, 'packaging', 'systemd', 'wharf.service');

/** Runs a command and throws with its output unless it exits 0; returns stdout. */
async function ok(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<string> {
  const env = opts.env ?? process.env;
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

describe('the npm package', { skip: NPM ? false : 'npm is not on PATH' }, () => {
  let work: string;
  let prefix: string;
  let installed: string;
  let files: string[];

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-npm-'));
    prefix = join(work, 'prefix');
    const packed = JSON.parse(
      await ok(NPM!, ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: REPO_ROOT }),
    ) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = packed[0].files.map((f) => f.path);
    // A user's machine: no npm settings of this checkout, the global prefix a temporary directory.
    await ok(
      NPM!,
      [
        'install',
        '-g',
        '--prefix',
        prefix,
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        join(work, packed[0].filename),
      ],
      { cwd: work },
    );
    installed = join(prefix, 'lib', 'node_modules', 'wharf');
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('the tarball holds the prebuilt code and the systemd files, no sources, tests or maps', () => {
    for (const f of [
      'package.json',
      'dist/version.json',
      'dist/src/main.js',
      'dist/src/cli/healthcheck.js',
      'packaging/systemd/wharf.service',
      'packaging/systemd/config.yml',
    ])
      assert.ok(files.includes(f), `${f} is not in the tarball`);
    const stray = files.filter((f) => /\.(ts|map)$|\.test\.js$|^dist\/test\/|^src\/|^test\/|^node_modules\//.test(f));
    assert.deepEqual(stray, []);
  });

  test('npm install -g: a wharf command, no dev dependencies, nothing built at install', () => {
    assert.ok(statSync(join(prefix, 'bin', 'wharf')).isFile());
    for (const dev of Object.keys(pkg.devDependencies))
      assert.ok(!existsSync(join(installed, 'node_modules', dev)), `dev dependency ${dev} was installed`);
    // No tsc anywhere in the install, so the dist/ it runs is the one packed.
    assert.ok(!existsSync(join(installed, 'node_modules', '.bin', 'tsc')));
    assert.equal(
      readFileSync(join(installed, 'dist', 'version.json'), 'utf8'),
      readFileSync(join(REPO_ROOT, 'dist', 'version.json'), 'utf8'),
    );
  });

  test('wharf --version and npx wharf --version print the version and the commit it was built from', async () => {
    // What the build recorded (dist/ may be older than HEAD when commits were made since): a commit of this
    // checkout when there is one.
    const built = JSON.parse(readFileSync(join(REPO_ROOT, 'dist', 'version.json'), 'utf8')) as {
      version: string;
      commit: string | null;
      modified: boolean | null;
    };
    assert.equal(built.version, pkg.version);
    if (gitHead()) {
      assert.match(built.commit ?? '', /^[0-9a-f]{40}$/);
      assert.equal((await ok('git', ['cat-file', '-t', built.commit!], { cwd: REPO_ROOT })).trim(), 'commit');
    }
    const v = pkg.version.replaceAll('.', '\\.');
    const expected = built.commit
      ? new RegExp(`^${v} \\(commit ${built.commit.slice(0, 12)}${built.modified ? ', modified' : ''}\\)\\n$`)
      : new RegExp(`^${v}\\n$`);
    assert.match(await ok(join(prefix, 'bin', 'wharf'), ['--version']), expected);
    // --no-install: resolved from the install, or an error; never the unrelated `wharf` package on the registry.
    const env = { ...process.env, NPM_CONFIG_PREFIX: prefix };
    assert.match(await ok(NPM!, ['exec', '--no-install', '--', 'wharf', '--version'], { cwd: work, env }), expected);
    assert.match(
      await ok(onPath('npx') ?? 'npx', ['--no-install', 'wharf', '--version'], { cwd: work, env }),
      expected,
    );
  });

  test('the installed wharf serve answers /v2/; the health check says so, and fails once it is gone', async () => {
    const port = await freePort();
    const dir = join(work, 'serve');
    mkdirSync(dir);
    const config = join(dir, 'config.yml');
    writeFileSync(config, testConfig().replaceAll('{{port}}', String(port)).replaceAll('{{data}}', join(dir, 'data')));
    const proc = spawn(join(prefix, 'bin', 'wharf'), ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    try {
      const up = await eventually(async () => {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/v2/`);
          return r.status === 200 && (await r.text()) === '{}';
        } catch {
          return false;
        }
      }, 30_000);
      assert.ok(up, `wharf serve from the install never answered /v2/:\n${out}`);
      const healthcheck = join(installed, 'dist', 'src', 'cli', 'healthcheck.js');
      assert.match(await ok(process.execPath, [healthcheck, config]), /"status":"ok"/);
      proc.kill('SIGTERM');
      await exited;
      const down = await run(process.execPath, [healthcheck, config]);
      assert.equal(down.code, 1);
      assert.match(down.stderr, /^wharf healthcheck: .*ECONNREFUSED/);
    } finally {
      proc.kill('SIGKILL');
    }
  });

  test('the sample /etc/wharf/config.yml passes wharf config check', async () => {
    await ok(join(prefix, 'bin', 'wharf'), ['config', 'check', join(installed, 'packaging', 'systemd', 'config.yml')]);
  });

  test('systemd-analyze verify accepts wharf.service', { skip: NO_SYSTEMD }, async () => {
    // The unit as installed on this prefix: only ExecStart's path differs from the file shipped.
    const text = readFileSync(UNIT, 'utf8');
    assert.match(text, /^ExecStart=\/usr\/local\/bin\/wharf /m);
    const unitDir = join(work, 'unit');
    mkdirSync(unitDir);
    writeFileSync(
      join(unitDir, 'wharf.service'),
      text.replace(/^ExecStart=\/usr\/local\/bin\/wharf /m, `ExecStart=${join(prefix, 'bin', 'wharf')} `),
    );
    const r = await run(SYSTEMD_ANALYZE!, ['verify', join(unitDir, 'wharf.service')]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.stderr.trim(), '', 'systemd-analyze verify warned');
  });
});

describe('the Containerfile', () => {
  // Copies, not symlinks: BuildKit (docker build) has failed on a symlinked Dockerfile (moby/buildkit#343).
  test('Dockerfile and .dockerignore are the same as Containerfile and .containerignore', () => {
    assert.equal(
      readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'),
      readFileSync(join(REPO_ROOT, 'Containerfile'), 'utf8'),
    );
    assert.equal(
      readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'),
      readFileSync(join(REPO_ROOT, '.containerignore'), 'utf8'),
    );
  });
});

describe('the systemd unit', { skip: NO_SYSTEMD }, () => {
  test('its systemd-analyze security exposure is no worse than docs/running.md states', async () => {
    const stated = /exposure level of ([0-9.]+)/.exec(readFileSync(join(REPO_ROOT, 'docs', 'running.md'), 'utf8'));
    assert.ok(stated, 'docs/running.md states no "exposure level of N"');
    const r = await run(SYSTEMD_ANALYZE!, ['security', '--offline=yes', '--no-pager', UNIT]);
    const m = /Overall exposure level for wharf\.service: ([0-9.]+)/.exec(r.stdout + r.stderr);
    assert.ok(m, r.stdout + r.stderr);
    assert.ok(Number(m[1]) <= Number(stated[1]), `exposure ${m[1]}, docs/running.md says ${stated[1]}`);
  });

  const notRoot =
    process.getuid?.() === 0
      ? false
      : 'systemd-tmpfiles gives directories to another user only as root (CI runs as root)';
  test(
    'sysusers.d and tmpfiles.d make the wharf user, the storage root and the config directory',
    { skip: notRoot },
    async () => {
      const root = mkdtempSync(join(tmpdir(), 'wharf-e2e-sysroot-'));
      try {
        for (const [kind, file] of [
          ['sysusers.d', 'wharf.sysusers'],
          ['tmpfiles.d', 'wharf.tmpfiles'],
        ]) {
          mkdirSync(join(root, 'etc', kind), { recursive: true });
          writeFileSync(
            join(root, 'etc', kind, 'wharf.conf'),
            readFileSync(join(REPO_ROOT, 'packaging', 'systemd', file)),
          );
        }
        await ok(onPath('systemd-sysusers') ?? 'systemd-sysusers', [`--root=${root}`]);
        const user = readFileSync(join(root, 'etc', 'passwd'), 'utf8')
          .split('\n')
          .find((l) => l.startsWith('wharf:'));
        assert.ok(user, 'no wharf user');
        const [, , uid, gid, , home, shell] = user.split(':');
        assert.equal(home, '/var/lib/wharf');
        assert.match(shell, /nologin$/);
        await ok(onPath('systemd-tmpfiles') ?? 'systemd-tmpfiles', [`--root=${root}`, '--create']);
        const data = statSync(join(root, 'var', 'lib', 'wharf'));
        assert.deepEqual([data.uid, data.gid, data.mode & 0o7777], [Number(uid), Number(gid), 0o750]);
        const etc = statSync(join(root, 'etc', 'wharf'));
        assert.deepEqual([etc.uid, etc.gid, etc.mode & 0o7777], [0, Number(gid), 0o750]);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  );
});
