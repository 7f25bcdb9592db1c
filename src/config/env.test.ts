import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyEnvOverrides } from './env.js';
import { ConfigError, parseConfig, storageDriverOf } from './load.js';

const BASE = `version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
validation:
  manifests:
    urls:
      allow: ['^https://a/', '^https://b/']
`;

const withEnv = (env: Record<string, string>, yaml = BASE) => parseConfig(yaml, 'test.yml', env);

test('REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY replaces the root directory', () => {
  const { config, warnings } = withEnv({ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/data/registry' });
  assert.deepEqual(storageDriverOf(config), { name: 'filesystem', params: { rootdirectory: '/data/registry' } });
  assert.deepEqual(warnings, []);
});

test('REGISTRY_HTTP_ADDR replaces the listen address', () => {
  assert.equal(withEnv({ REGISTRY_HTTP_ADDR: ':5001' }).config.http.addr, ':5001');
  assert.equal(withEnv({ REGISTRY_HTTP_ADDR: '127.0.0.1:6000' }).config.http.addr, '127.0.0.1:6000');
});

test('values are parsed as YAML: booleans, numbers, lists', () => {
  const { config } = withEnv({
    REGISTRY_STORAGE_DELETE_ENABLED: 'true',
    REGISTRY_CATALOG_MAXENTRIES: '50',
    REGISTRY_HTTP_RELATIVEURLS: 'false',
  });
  assert.equal(config.storage.delete.enabled, true);
  assert.equal(config.catalog.maxentries, 50);
  assert.equal(config.http.relativeurls, false);
  const tree: Record<string, unknown> = {};
  applyEnvOverrides(tree, {
    REGISTRY_A: 'true',
    REGISTRY_B: '12',
    REGISTRY_C: '[x, y]',
    REGISTRY_D: '{k: v}',
    REGISTRY_E: 'plain text',
    REGISTRY_F: 'a: [',
  });
  assert.deepEqual(tree, { a: true, b: 12, c: ['x', 'y'], d: { k: 'v' }, e: 'plain text', f: 'a: [' });
});

test('a wrongly typed value from the environment names its key path', () => {
  try {
    withEnv({ REGISTRY_STORAGE_DELETE_ENABLED: 'sometimes' });
    assert.fail('loaded');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.problems.length, 1);
    assert.match(err.problems[0], /^storage\.delete\.enabled: /);
  }
});

test('map keys: an existing one is matched case-insensitively, a new one is added lower-cased', () => {
  const { config } = withEnv({
    'REGISTRY_HTTP_HEADERS_X-FOO': '[a]',
    'REGISTRY_HTTP_HEADERS_X-CONTENT-TYPE-OPTIONS': '[other]',
  });
  assert.deepEqual(config.http.headers, { 'X-Content-Type-Options': ['other'], 'x-foo': ['a'] });
});

test('existing keys are matched case-insensitively, without duplicates', () => {
  const tree: Record<string, unknown> = { storage: { filesystem: { rootdirectory: '/a' } }, http: { Addr: ':1' } };
  const applied = applyEnvOverrides(tree, {
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/b',
    REGISTRY_HTTP_ADDR: ':2',
  });
  assert.deepEqual(tree, { storage: { filesystem: { rootdirectory: '/b' } }, http: { Addr: ':2' } });
  assert.deepEqual(applied, [
    { variable: 'REGISTRY_HTTP_ADDR', path: ['http', 'Addr'] },
    { variable: 'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY', path: ['storage', 'filesystem', 'rootdirectory'] },
  ]);
});

test('list items are addressed by index', () => {
  const { config } = withEnv({
    REGISTRY_VALIDATION_MANIFESTS_URLS_ALLOW_0: '^https://z/',
    REGISTRY_VALIDATION_MANIFESTS_URLS_DENY_0: '^http://',
  });
  assert.deepEqual(config.validation.manifests.urls.allow, ['^https://z/', '^https://b/']);
  assert.deepEqual(config.validation.manifests.urls.deny, ['^http://']);
});

test('a list index that is not a number is ignored with a warning', () => {
  const { config, warnings } = withEnv({ REGISTRY_VALIDATION_MANIFESTS_URLS_ALLOW_FIRST: '^https://z/' });
  assert.deepEqual(config.validation.manifests.urls.allow, ['^https://a/', '^https://b/']);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /REGISTRY_VALIDATION_MANIFESTS_URLS_ALLOW_FIRST/);
});

test('variables apply in sorted order: REGISTRY_STORAGE before REGISTRY_STORAGE_DELETE_ENABLED', () => {
  // Insertion order is the reverse of the sorted order, so only sorting gets this right.
  const env = { REGISTRY_STORAGE_DELETE_ENABLED: 'true', REGISTRY_STORAGE: 'inmemory' };
  const { config, warnings } = withEnv(env);
  assert.deepEqual(warnings, []);
  assert.deepEqual(storageDriverOf(config), { name: 'inmemory', params: {} });
  assert.equal(config.storage.delete.enabled, true);
});

test('a child variable keeps a scalar storage driver written in the file', () => {
  const { config } = withEnv({ REGISTRY_STORAGE_DELETE_ENABLED: 'true' }, 'version: 0.1\nstorage: inmemory\n');
  assert.deepEqual(storageDriverOf(config), { name: 'inmemory', params: {} });
  assert.equal(config.storage.delete.enabled, true);
});

test('REGISTRY_STORAGE replaces the whole storage section, as in Distribution', () => {
  const { config } = withEnv(
    { REGISTRY_STORAGE: 'inmemory' },
    'version: 0.1\nstorage:\n  filesystem:\n  delete:\n    enabled: true\n',
  );
  assert.deepEqual(storageDriverOf(config), { name: 'inmemory', params: {} });
  assert.equal(config.storage.delete.enabled, false);
});

test('overrides may build the whole configuration', () => {
  const { config } = parseConfig('', 'empty.yml', {
    REGISTRY_VERSION: '0.1',
    REGISTRY_STORAGE: 'inmemory',
    REGISTRY_HTTP_ADDR: ':7000',
  });
  assert.equal(config.version, '0.1');
  assert.equal(config.http.addr, ':7000');
  assert.equal(storageDriverOf(config).name, 'inmemory');
});

test('unknown variables warn, naming the variable', () => {
  const { config, warnings } = withEnv({
    REGISTRY_NOPE: '1',
    REGISTRY_HTTP_ADRESS: ':6000',
    REGISTRY_HTTP_TYPO_DEEPER: 'x',
    REGISTRY_HTTP__ADDR: ':6000',
  });
  assert.equal(config.http.addr, ':5000');
  assert.equal(warnings.length, 4, warnings.join('\n'));
  for (const v of ['REGISTRY_NOPE', 'REGISTRY_HTTP_ADRESS', 'REGISTRY_HTTP_TYPO_DEEPER', 'REGISTRY_HTTP__ADDR']) {
    assert.ok(
      warnings.some((w) => w.includes(`variable ${v}`)),
      `no warning names ${v}:\n${warnings.join('\n')}`,
    );
  }
  assert.ok(
    warnings.some((w) => w.startsWith('http.adress: ')),
    'the warning also gives the key path',
  );
});

test('REGISTRY_CONFIGURATION_PATH and other variables are not overrides', () => {
  const env = {
    REGISTRY_CONFIGURATION_PATH: '/etc/docker/registry/config.yml',
    REGISTRY_: 'x',
    registry_http_addr: ':1',
    Registry_Http_Addr: ':2',
    HOME: '/root',
    PATH: '/bin',
  };
  const { config, warnings } = withEnv(env);
  assert.deepEqual(warnings, []);
  assert.equal(config.http.addr, ':5000');
  const tree: Record<string, unknown> = {};
  assert.deepEqual(applyEnvOverrides(tree, env), []);
  assert.deepEqual(tree, {});
});

test('the environment does not change the parsed YAML of another load', () => {
  const first = withEnv({ REGISTRY_HTTP_ADDR: ':5001' });
  const second = withEnv({});
  assert.equal(first.config.http.addr, ':5001');
  assert.equal(second.config.http.addr, ':5000');
});
