/**
 * Keys that parse (Distribution documents them, so a config written for it starts) but change nothing in wharf:
 * one warning each, naming the key, at start and in `wharf config check`. A key that works is not listed here.
 */
import type { Config } from './schema.js';

function get(tree: unknown, path: readonly string[]): unknown {
  let cur = tree;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

const REDIS_POOL =
  'has no effect: ioredis sends every command over one connection per server, pipelined (there is no pool to size)';

/** Present in the file (or set by a REGISTRY_* variable): the key alone is the mistake. */
const WHEN_PRESENT: ReadonlyArray<{ path: readonly string[]; why: string }> = [
  {
    path: ['storage', 'filesystem', 'maxthreads'],
    why: "has no effect: file operations run on Node's thread pool (size it with the UV_THREADPOOL_SIZE environment variable)",
  },
  { path: ['storage', 'tag', 'concurrencylimit'], why: 'has no effect: tag lookups are bounded by wharf itself' },
  { path: ['redis', 'poolsize'], why: REDIS_POOL },
  { path: ['redis', 'maxidleconns'], why: REDIS_POOL },
  { path: ['redis', 'maxactiveconns'], why: REDIS_POOL },
  { path: ['redis', 'minidleconns'], why: REDIS_POOL },
  { path: ['compatibility'], why: 'has no effect: schema 1 manifests are neither accepted nor served' },
];

export function noEffectWarnings(config: Readonly<Config>, tree: Record<string, unknown>): string[] {
  const out: string[] = [];
  const say = (key: string, why: string) => out.push(`${key}: ${why}`);
  for (const k of WHEN_PRESENT) if (get(tree, k.path) !== undefined) say(k.path.join('.'), k.why);
  const pool = get(tree, ['redis', 'pool']);
  if (typeof pool === 'object' && pool !== null) for (const k of Object.keys(pool)) say(`redis.pool.${k}`, REDIS_POOL);
  if (config.log.reportcaller)
    say('log.reportcaller', 'has no effect: log lines do not name the function that wrote them');
  const s3 = config.storage.s3;
  if (s3) {
    if (!s3.v4auth)
      say(
        'storage.s3.v4auth',
        'false has no effect: requests are always signed with AWS Signature Version 4 (the SDK has no version 2)',
      );
    if (s3.loglevel !== undefined && s3.loglevel !== 'off')
      say(
        'storage.s3.loglevel',
        'has no effect: S3 requests are not logged (failures are, with the request that met them)',
      );
    if (s3.regionendpoint) {
      if (s3.usedualstack)
        say('storage.s3.usedualstack', 'is ignored with regionendpoint: it selects an AWS dual-stack endpoint');
      if (s3.accelerate)
        say(
          'storage.s3.accelerate',
          'is ignored with regionendpoint: it selects the AWS Transfer Acceleration endpoint',
        );
    }
  }
  return out;
}
