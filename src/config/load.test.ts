import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, DEFAULT_CONFIG_YAML, loadConfig, parseConfig, storageDriverOf } from './load.js';

/** The ConfigError `fn` throws; fails when it returns. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError, the configuration loaded');
}

const parse = (yaml: string) => parseConfig(yaml, 'test.yml', {});

/** The config.yml Distribution's image ships as /etc/docker/registry/config.yml. */
const DISTRIBUTION_IMAGE_CONFIG = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`;

/** The shape most tutorials (the Korean ones included) copy: the image's config plus htpasswd auth. */
const TUTORIAL_HTPASSWD_CONFIG = `version: 0.1
log:
  fields:
    service: registry
storage:
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
    Access-Control-Allow-Origin: ['*']
auth:
  htpasswd:
    realm: basic-realm
    path: /auth/htpasswd
`;

/** A self-hosting config exercising the sections wharf implements. */
const FULL_CONFIG = `version: "0.1"
log:
  level: debug
  formatter: json
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: /srv/registry
    maxthreads: 100
  delete:
    enabled: true
  redirect:
    disable: true
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: false
http:
  addr: 0.0.0.0:5000
  host: https://registry.example.com
  secret: a-long-random-string
  relativeurls: true
  draintimeout: 10s
  headers:
    X-Content-Type-Options: [nosniff]
    Strict-Transport-Security: [max-age=31536000]
validation:
  disabled: false
  manifests:
    urls:
      allow:
        - ^https?://([^/]+\\.)*example\\.com/
      deny:
        - ^https?://www\\.example\\.com/
    indexes:
      platforms: list
      platformlist:
        - architecture: amd64
          os: linux
catalog:
  maxentries: 500
`;

test('the embedded default loads without warnings', () => {
  const { config, warnings, source } = loadConfig({ env: {} });
  assert.equal(source, '(embedded default)');
  assert.deepEqual(warnings, []);
  assert.deepEqual(storageDriverOf(config), { name: 'filesystem', params: { rootdirectory: './data' } });
  assert.equal(config.storage.delete.enabled, true);
  assert.equal(config.http.addr, ':5000');
  assert.equal(config.http.prefix, '/');
  assert.deepEqual(config.http.headers, { 'X-Content-Type-Options': ['nosniff'] });
  assert.equal(config.log.level, 'info');
  assert.equal(config.catalog.maxentries, 1000);
  assert.ok(DEFAULT_CONFIG_YAML.startsWith('version: 0.1\n'));
});

test('a file given by path loads, and an unreadable one is a ConfigError', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-config-'));
  try {
    const path = join(dir, 'config.yml');
    await writeFile(path, DISTRIBUTION_IMAGE_CONFIG);
    const { config, source } = loadConfig({ path, env: {} });
    assert.equal(source, path);
    assert.equal(storageDriverOf(config).params.rootdirectory, '/var/lib/registry');
    const err = configError(() => loadConfig({ path: join(dir, 'missing.yml'), env: {} }));
    assert.match(err.message, /cannot read configuration file/);
    assert.equal(err.source, join(dir, 'missing.yml'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("Distribution image's config.yml loads, warning about what wharf ignores", () => {
  const { config, warnings } = parse(DISTRIBUTION_IMAGE_CONFIG);
  assert.deepEqual(storageDriverOf(config), { name: 'filesystem', params: { rootdirectory: '/var/lib/registry' } });
  assert.equal(config.storage.delete.enabled, false, 'delete is off unless enabled');
  assert.deepEqual(config.log.fields, { service: 'registry' });
  assert.equal(config.storage.cache.blobdescriptor, 'inmemory');
  assert.deepEqual(config.health.storagedriver, { enabled: true, interval: 10_000, threshold: 3 });
  assert.ok(!warnings.some((w) => w.includes('unknown key')), warnings.join('\n'));
});

test('the tutorial htpasswd config loads with its auth section', () => {
  const { config, warnings } = parse(TUTORIAL_HTPASSWD_CONFIG);
  assert.deepEqual(config.auth?.htpasswd, { realm: 'basic-realm', path: '/auth/htpasswd' });
  assert.equal(config.storage.delete.enabled, true);
  assert.deepEqual(config.http.headers['Access-Control-Allow-Origin'], ['*']);
  assert.ok(!warnings.some((w) => w.startsWith('auth')), warnings.join('\n'));
});

test('a config using filesystem, delete, headers, validation and catalog loads as written', () => {
  const { config, warnings } = parse(FULL_CONFIG);
  // Distribution's maxthreads parses, and is the one key of this config that changes nothing in wharf.
  assert.deepEqual(
    warnings.map((w) => w.split(':')[0]),
    ['storage.filesystem.maxthreads'],
  );
  assert.deepEqual(storageDriverOf(config), {
    name: 'filesystem',
    params: { rootdirectory: '/srv/registry', maxthreads: 100 },
  });
  assert.equal(config.storage.delete.enabled, true);
  assert.equal(config.storage.redirect.disable, true);
  assert.equal(config.log.level, 'debug');
  assert.equal(config.log.formatter, 'json');
  assert.equal(config.log.accesslog.disabled, true);
  assert.equal(config.http.addr, '0.0.0.0:5000');
  assert.equal(config.http.host, 'https://registry.example.com');
  assert.equal(config.http.relativeurls, true);
  assert.equal(config.http.draintimeout, 10_000);
  assert.deepEqual(config.http.headers['Strict-Transport-Security'], ['max-age=31536000']);
  assert.deepEqual(config.validation.manifests.urls.allow, ['^https?://([^/]+\\.)*example\\.com/']);
  assert.equal(config.validation.manifests.indexes.platforms, 'list');
  assert.deepEqual(config.validation.manifests.indexes.platformlist, [{ architecture: 'amd64', os: 'linux' }]);
  assert.equal(config.catalog.maxentries, 500);
});

test('version is required and must be 0.1', () => {
  let err = configError(() => parse('storage: inmemory\n'));
  assert.deepEqual(err.problems, ['version: required (write version: 0.1 at the top of the file)']);
  for (const v of ['0.2', '"1.0"', 'abc', '[0.1]']) {
    err = configError(() => parse(`version: ${v}\nstorage: inmemory\n`));
    assert.equal(err.problems.length, 1, v);
    assert.match(err.problems[0], /^version: /, v);
  }
  assert.match(configError(() => parse('version: 0.2\nstorage: inmemory\n')).problems[0], /unsupported version "0.2"/);
  assert.equal(parse('version: "0.1"\nstorage: inmemory\n').config.version, '0.1');
  assert.equal(parse('version: 0.1\nstorage: inmemory\n').config.version, '0.1');
});

test('wrong types produce one ConfigError naming every bad key path', () => {
  const err = configError(() =>
    parse(`version: 0.1
log:
  level: loud
storage:
  inmemory:
  delete:
    enabled: "yes"
http:
  addr: 5
  relativeurls: 1
  headers:
    X-Frame-Options: DENY
catalog:
  maxentries: -1
`),
  );
  const paths = err.problems.map((p) => p.slice(0, p.indexOf(':')));
  assert.deepEqual(paths.sort(), [
    'catalog.maxentries',
    'http.addr',
    'http.headers.X-Frame-Options',
    'http.relativeurls',
    'log.level',
    'storage.delete.enabled',
  ]);
  assert.equal(err.source, 'test.yml');
  for (const p of paths) assert.ok(err.message.includes(`  - ${p}: `), `the message lists ${p}`);
});

test('unknown keys warn with their path (and the key they look like) and do not fail', () => {
  const { config, warnings } = parse(`version: 0.1
storage:
  inmemory:
  delet:
    enabled: true
http:
  adr: :6000
frobnicate: true
`);
  assert.deepEqual(warnings.sort(), [
    'frobnicate: unknown key, ignored',
    'http.adr: unknown key, did you mean addr? (ignored)',
    'storage.delet: unknown key, did you mean delete? (ignored)',
  ]);
  assert.equal(config.http.addr, ':5000');
  assert.equal(config.storage.delete.enabled, false);
});

test('exactly one storage driver', () => {
  let err = configError(() => parse('version: 0.1\nstorage:\n  inmemory:\n  filesystem:\n    rootdirectory: /x\n'));
  assert.equal(err.problems.length, 1);
  assert.match(err.problems[0], /^storage: only one storage driver may be configured, found filesystem, inmemory$/);
  err = configError(() => parse('version: 0.1\nstorage:\n  delete:\n    enabled: true\n'));
  assert.match(err.problems[0], /^storage: exactly one storage driver is required/);
  err = configError(() => parse('version: 0.1\n'));
  assert.deepEqual(err.problems, [
    'storage: required (one storage driver, e.g. filesystem with rootdirectory: /var/lib/registry)',
  ]);
});

test('storage: inmemory in its scalar form', () => {
  const { config, warnings } = parse('version: 0.1\nstorage: inmemory\n');
  assert.deepEqual(warnings, []);
  assert.deepEqual(storageDriverOf(config), { name: 'inmemory', params: {} });
  assert.equal(config.storage.delete.enabled, false);
});

test('a driver section may be empty (null): its defaults apply', () => {
  const { config } = parse('version: 0.1\nstorage:\n  filesystem:\n');
  assert.deepEqual(storageDriverOf(config), { name: 'filesystem', params: { rootdirectory: '/var/lib/registry' } });
});

test('storage.filesystem.fsync (a wharf key) reaches the driver; a bad value is named by its path', () => {
  const { config, warnings } = parse('version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /x\n    fsync: true\n');
  assert.deepEqual(warnings, []);
  assert.deepEqual(storageDriverOf(config), { name: 'filesystem', params: { rootdirectory: '/x', fsync: true } });
  const err = configError(() => parse('version: 0.1\nstorage:\n  filesystem:\n    fsync: always\n    maxthreads: 3\n'));
  assert.deepEqual(err.problems.map((p) => p.split(':')[0]).sort(), [
    'storage.filesystem.fsync',
    'storage.filesystem.maxthreads',
  ]);
});

test('durations are parsed to milliseconds, with defaults', () => {
  let { config } = parse('version: 0.1\nstorage: inmemory\nhttp:\n  draintimeout: 10s\n');
  assert.equal(config.http.draintimeout, 10_000);
  assert.equal(config.storage.maintenance.uploadpurging.age, 168 * 3_600_000, 'default age 168h');
  assert.equal(config.storage.maintenance.uploadpurging.interval, 24 * 3_600_000, 'default interval 24h');
  ({ config } = parse(`version: 0.1
storage:
  inmemory:
  maintenance:
    uploadpurging:
      enabled: false
      age: 72h
      interval: 1h30m
`));
  assert.equal(config.storage.maintenance.uploadpurging.age, 72 * 3_600_000);
  assert.equal(config.storage.maintenance.uploadpurging.interval, 5_400_000);
});

test('a bad duration is a ConfigError naming its key', () => {
  const err = configError(() =>
    parse(
      'version: 0.1\nstorage:\n  inmemory:\n  maintenance:\n    uploadpurging:\n      age: 7d\nhttp:\n  draintimeout: soon\n',
    ),
  );
  const paths = err.problems.map((p) => p.slice(0, p.indexOf(':'))).sort();
  assert.deepEqual(paths, ['http.draintimeout', 'storage.maintenance.uploadpurging.age']);
  assert.ok(
    err.problems.every((p) => p.includes('not a duration')),
    err.message,
  );
});

test('http.prefix gets a leading and a trailing slash', () => {
  for (const [given, want] of [
    ['registry', '/registry/'],
    ['/registry', '/registry/'],
    ['registry/', '/registry/'],
    ['/registry/', '/registry/'],
    ['/a/b', '/a/b/'],
    ['/', '/'],
  ]) {
    assert.equal(parse(`version: 0.1\nstorage: inmemory\nhttp:\n  prefix: ${given}\n`).config.http.prefix, want, given);
  }
  assert.equal(parse('version: 0.1\nstorage: inmemory\n').config.http.prefix, '/');
});

test('the loaded config is deeply frozen', () => {
  const { config } = parse(FULL_CONFIG);
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.http.headers));
  assert.ok(Object.isFrozen(config.http.headers['X-Content-Type-Options']));
  assert.ok(Object.isFrozen(config.validation.manifests.indexes.platformlist[0]));
  assert.throws(() => {
    (config.http as { addr: string }).addr = ':1';
  }, TypeError);
  assert.throws(() => {
    (config.http.headers['X-Content-Type-Options'] as string[]).push('x');
  }, TypeError);
  assert.equal(config.http.addr, '0.0.0.0:5000');
});

test('YAML that is not a configuration mapping is a ConfigError', () => {
  assert.match(configError(() => parse('version: 0.1\nstorage: [\n')).problems[0], /^YAML: /);
  assert.match(configError(() => parse('- version\n- storage\n')).problems[0], /^\(root\): /);
  assert.match(
    configError(() => parse('version: 0.1\nversion: 0.1\nstorage: inmemory\n')).problems[0],
    /^YAML: /,
    'duplicate keys',
  );
});

test('features wharf does not have yet: fatal where ignoring them would be unsafe, else a warning', () => {
  let err = configError(() =>
    parse('version: 0.1\nstorage: inmemory\nproxy:\n  remoteurl: ftp://registry-1.docker.io\n'),
  );
  assert.ok(
    err.problems.some((p) => p.startsWith('proxy.remoteurl: ')),
    err.message,
  );
  err = configError(() => parse('version: 0.1\nstorage:\n  gcs:\n    bucket: b\n'));
  assert.ok(
    err.problems.some((p) => p.startsWith('storage.gcs: ')),
    err.message,
  );
});

test('redis: v3 addrs or v2 addr, durations, tls; blobdescriptor redis needs the section', () => {
  const v2 = parse(
    'version: 0.1\nstorage: inmemory\nredis:\n  addr: localhost:6379\n  password: 123\n  db: 2\n  dialtimeout: 10ms\n  pool:\n    maxidle: 16\n    maxactive: 64\n    idletimeout: 300s\n',
  );
  // The pool keys parse (Distribution's) and are named as having no effect.
  assert.deepEqual(
    v2.warnings.map((w) => w.split(':')[0]),
    ['redis.pool.maxidle', 'redis.pool.maxactive', 'redis.pool.idletimeout'],
  );
  assert.equal(v2.config.redis?.addr, 'localhost:6379');
  assert.equal(v2.config.redis?.password, '123');
  assert.equal(v2.config.redis?.dialtimeout, 10);
  const v3 = parse(
    'version: 0.1\nstorage:\n  inmemory:\n  cache:\n    blobdescriptor: redis\nredis:\n  addrs: [a:6379]\n  readtimeout: 1s\n  tls:\n    enabled: true\n',
  );
  assert.deepEqual(v3.config.redis?.addrs, ['a:6379']);
  assert.equal(v3.config.redis?.readtimeout, 1000);
  assert.equal(v3.config.storage.cache.blobdescriptor, 'redis');
  let err = configError(() => parse('version: 0.1\nstorage:\n  inmemory:\n  cache:\n    blobdescriptor: redis\n'));
  assert.ok(
    err.problems.some((p) => p.startsWith('storage.cache.blobdescriptor: ')),
    err.message,
  );
  err = configError(() => parse('version: 0.1\nstorage: inmemory\nredis:\n  db: 1\n'));
  assert.ok(
    err.problems.some((p) => p.startsWith('redis.addrs: ')),
    err.message,
  );
});

test('the deprecated top-level loglevel still sets the log level, with a warning', () => {
  const { config, warnings } = parse('version: 0.1\nloglevel: debug\nstorage: inmemory\n');
  assert.equal(config.log.level, 'debug');
  assert.ok(warnings.includes('loglevel: deprecated, use log.level'));
});

test("notifications: Distribution's endpoint keys with their defaults; zero means the default, as there", () => {
  const { config, warnings } = parse(`version: 0.1
storage: inmemory
notifications:
  events:
    includereferences: true
  endpoints:
    - name: hook
      url: https://hooks.example.com/registry
      headers:
        Authorization: [Bearer abc]
        X-Single: one
      ignoredmediatypes: [application/octet-stream]
      ignore:
        mediatypes: [application/vnd.oci.image.index.v1+json]
        actions: [pull]
    - name: tuned
      url: http://127.0.0.1:9/
      timeout: 500ms
      threshold: 0
      backoff: 0
    - name: off
      disabled: true
`);
  assert.deepEqual(warnings, []);
  const n = config.notifications;
  assert.equal(n.events.includereferences, true);
  const [hook, tuned, off] = n.endpoints;
  assert.deepEqual(
    { timeout: hook.timeout, threshold: hook.threshold, backoff: hook.backoff, disabled: hook.disabled },
    { timeout: 1000, threshold: 10, backoff: 1000, disabled: false },
  );
  assert.deepEqual(hook.headers, { Authorization: ['Bearer abc'], 'X-Single': ['one'] });
  assert.deepEqual(hook.ignoredmediatypes, ['application/octet-stream']);
  assert.deepEqual(hook.ignore, { mediatypes: ['application/vnd.oci.image.index.v1+json'], actions: ['pull'] });
  assert.deepEqual(
    { timeout: tuned.timeout, threshold: tuned.threshold, backoff: tuned.backoff },
    { timeout: 500, threshold: 10, backoff: 1000 },
  );
  assert.equal(off.disabled, true, 'a disabled endpoint needs no url');
  assert.deepEqual(parse('version: 0.1\nstorage: inmemory\n').config.notifications, {
    events: { includereferences: false },
    endpoints: [],
  });
  assert.deepEqual(parse('version: 0.1\nstorage: inmemory\nnotifications:\n').config.notifications.endpoints, []);
});

test('notifications: bad endpoints are errors naming the key path', () => {
  const err = configError(() =>
    parse(`version: 0.1
storage: inmemory
notifications:
  endpoints:
    - url: http://x/
    - name: b
      url: ftp://x/
    - name: c
    - name: d
      url: http://x/
      timeout: soon
      ignore:
        actions: [pulls]
`),
  );
  const at = (prefix: string) =>
    assert.ok(
      err.problems.some((p) => p.startsWith(prefix)),
      `${prefix} in\n${err.message}`,
    );
  at('notifications.endpoints.0.name: ');
  at('notifications.endpoints.1.url: must be an http:// or https:// URL');
  at('notifications.endpoints.2.url: ');
  at('notifications.endpoints.3.timeout: ');
  at('notifications.endpoints.3.ignore.actions.0: ');
});

test('notifications: endpoints can be set from REGISTRY_* variables', () => {
  const { config } = parseConfig(
    'version: 0.1\nstorage: inmemory\nnotifications:\n  endpoints:\n    - name: a\n      url: http://x/\n',
    'test.yml',
    {
      REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL: 'https://elsewhere.example.com/hook',
      REGISTRY_NOTIFICATIONS_ENDPOINTS_0_THRESHOLD: '3',
    },
  );
  assert.equal(config.notifications.endpoints[0].url, 'https://elsewhere.example.com/hook');
  assert.equal(config.notifications.endpoints[0].threshold, 3);
});
