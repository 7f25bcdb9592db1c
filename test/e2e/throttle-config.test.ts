/** `wharf config check` explains the login throttling policy in words, and says what the old `blockfor` now means. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { MAIN } from './harness.js';

describe('wharf config check: login throttling', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-e2e-throttle-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function check(yaml: string): Promise<{ stdout: string; stderr: string }> {
    const file = join(dir, 'config.yml');
    writeFileSync(file, `version: 0.1\nstorage: inmemory\n${yaml}`);
    return promisify(execFile)(process.execPath, [MAIN, 'config', 'check', file]);
  }

  test('the defaults in words, as YAML comments after the effective configuration', async () => {
    const { stdout, stderr } = await check('');
    assert.match(stderr, /configuration is valid/);
    assert.match(stdout, /^# login throttling \(bruteforce\):$/m);
    assert.match(
      stdout,
      /^# {3}- after 10 failures for one user name from one address, that user name from that address is slowed; after 30 failures from one address/m,
    );
    assert.match(
      stdout,
      /^# {3}- one address can have at most \d+ passwords checked in an hour against one user name/m,
    );
    assert.match(stdout, /X-Forwarded-For and Forwarded are ignored \(http\.trustedproxies is empty\)/);
    const parsed = YAML.parse(stdout) as { bruteforce: Record<string, unknown>; http: { trustedproxies: string[] } };
    assert.deepEqual(parsed.bruteforce, {
      enabled: true,
      maxfailures: 10,
      addressmaxfailures: 30,
      usermaxfailures: 100,
      window: 1_800_000,
      backoff: { initial: 1000, max: 900_000 },
    });
  });

  test('the old blockfor: a warning saying it is now backoff.max; trusted proxies and a disabled throttle explained', async () => {
    const old = await check('bruteforce:\n  blockfor: 5m\n');
    assert.match(
      old.stderr,
      /warning: bruteforce\.blockfor: deprecated: logins are no longer blocked for a fixed time; blockfor is read as bruteforce\.backoff\.max/,
    );
    assert.match(old.stdout, /doubling with each further failure up to 5m/);
    const off = await check('bruteforce:\n  enabled: false\nhttp:\n  trustedproxies: [10.0.0.0/8]\n');
    assert.match(off.stdout, /# {3}- login throttling is off \(bruteforce\.enabled: false\)/);
    assert.match(off.stdout, /taken from X-Forwarded-For \(else Forwarded\) when the peer is one of 10\.0\.0\.0\/8/);
  });
});
