/** Keys that parse but change nothing: each is named once in the warnings; keys that work are not. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from './load.js';

const S3 = 'storage:\n  s3:\n    bucket: b\n    region: us-east-1\n';

function keysWarned(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  return parseConfig(`version: 0.1\n${yaml}`, 'test', env)
    .warnings.filter((w) => w.includes('has no effect') || w.includes('is ignored with'))
    .map((w) => w.slice(0, w.indexOf(':')));
}

test('each key without effect is named once', () => {
  assert.deepEqual(
    keysWarned(
      'storage:\n  filesystem:\n    maxthreads: 100\n  tag:\n    concurrencylimit: 8\nlog:\n  reportcaller: true\ncompatibility:\n  schema1:\n    enabled: false\n',
    ),
    ['storage.filesystem.maxthreads', 'storage.tag.concurrencylimit', 'compatibility', 'log.reportcaller'],
  );
  assert.deepEqual(
    keysWarned(
      'storage: inmemory\nredis:\n  addrs: [a:6379]\n  poolsize: 10\n  maxidleconns: 2\n  maxactiveconns: 3\n  minidleconns: 1\n  pool:\n    maxidle: 1\n',
    ),
    ['redis.poolsize', 'redis.maxidleconns', 'redis.maxactiveconns', 'redis.minidleconns', 'redis.pool.maxidle'],
  );
  assert.deepEqual(
    keysWarned(
      `${S3}    v4auth: false\n    loglevel: debug\n    regionendpoint: http://127.0.0.1:7480\n    usedualstack: true\n    accelerate: true\n`,
    ),
    ['storage.s3.v4auth', 'storage.s3.loglevel', 'storage.s3.usedualstack', 'storage.s3.accelerate'],
  );
});

test('a key set by a REGISTRY_* variable is named too', () => {
  assert.deepEqual(keysWarned('storage: inmemory\n', { REGISTRY_STORAGE_TAG_CONCURRENCYLIMIT: '4' }), [
    'storage.tag.concurrencylimit',
  ]);
});

test('keys that work, and the defaults, are not warned about', () => {
  assert.deepEqual(
    keysWarned('storage:\n  filesystem:\n    rootdirectory: /x\n    fsync: true\nlog:\n  reportcaller: false\n'),
    [],
  );
  assert.deepEqual(
    keysWarned(
      `${S3}    v4auth: true\n    loglevel: "off"\n    skipverify: true\n    objectacl: public-read\n    useragent: me/1\n    usedualstack: true\n    accelerate: true\n`,
    ),
    [],
  );
});
