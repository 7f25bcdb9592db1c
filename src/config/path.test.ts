import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { resolveConfigPath } from './path.js';

describe('resolveConfigPath', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-configpath-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const a = join(dir, 'a.yml');
  const b = join(dir, 'b.yml');
  const asDir = join(dir, 'dir.yml');
  writeFileSync(b, 'version: 0.1\n');
  mkdirSync(asDir);

  test('the argument wins, then REGISTRY_CONFIGURATION_PATH', () => {
    assert.equal(resolveConfigPath('x.yml', { REGISTRY_CONFIGURATION_PATH: 'y.yml', WHARF_CONFIG_PATHS: b }), 'x.yml');
    assert.equal(
      resolveConfigPath(undefined, { REGISTRY_CONFIGURATION_PATH: 'y.yml', WHARF_CONFIG_PATHS: b }),
      'y.yml',
    );
  });

  test('the first existing regular file of WHARF_CONFIG_PATHS (absent ones and directories skipped)', () => {
    assert.equal(resolveConfigPath(undefined, { WHARF_CONFIG_PATHS: `${a}:${asDir}::${b}` }), b);
    writeFileSync(a, 'version: 0.1\n');
    assert.equal(resolveConfigPath(undefined, { WHARF_CONFIG_PATHS: `${a}:${b}` }), a);
  });

  test('nothing configured or found: undefined (the embedded default)', () => {
    assert.equal(resolveConfigPath(undefined, {}), undefined);
    assert.equal(resolveConfigPath(undefined, { WHARF_CONFIG_PATHS: join(dir, 'none.yml') }), undefined);
  });
});
