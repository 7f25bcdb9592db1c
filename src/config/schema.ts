/**
 * The shape of Distribution's config.yml, as zod schemas. Every key Distribution documents is known here,
 * so that an unknown key can be warned about; keys of features wharf does not have yet parse, and are
 * reported by `NOT_YET` in load.ts; keys that parse but have no effect are warned about by warnings.ts.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { policiesSchema, scheduleSchema } from '../policies/schema.js';
import { AUTH_METHOD_NAMES, authSchema } from './authschema.js';
import { s3Schema, STORAGE_DRIVER_KEYS, storageSchema, type FilesystemConfig, type S3Config } from './storageschema.js';
import { bool, duration, intish, looseSection, text } from './types.js';
import { proxySchema } from '../proxy/schema.js';

export { AUTH_METHOD_NAMES };
export { s3Schema, STORAGE_DRIVER_KEYS, type FilesystemConfig, type S3Config };

const logSchema = z
  .object({
    level: z.enum(['error', 'warn', 'info', 'debug', 'trace']).default('info'),
    formatter: z.enum(['text', 'json', 'logstash']).default('text'),
    fields: z.record(z.unknown()).default({}),
    accesslog: z.object({ disabled: bool.default(false) }).default({}),
    reportcaller: bool.optional(),
    hooks: z.array(z.unknown()).optional(),
  })
  .default({});

/** `http.trustedproxies`: a list (or a comma/space separated string, e.g. from REGISTRY_HTTP_TRUSTEDPROXIES) of addresses and CIDR blocks. */
const trustedProxiesSchema = z
  .union([z.string().transform((s) => s.split(/[\s,]+/).filter((x) => x !== '')), z.array(z.string())])
  .default([])
  .superRefine((list, ctx) => {
    list.forEach((entry, i) => {
      const [addr, bits, extra] = entry.split('/');
      const family = isIP(addr.replace(/^\[|\]$/g, ''));
      const max = family === 4 ? 32 : 128;
      if (family === 0 || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: [i],
          message: `not an IP address or CIDR block: ${JSON.stringify(entry)} (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)`,
        });
      }
    });
  });

const httpSchema = z
  .object({
    addr: z.string().default(':5000'),
    net: z.enum(['tcp', 'unix']).default('tcp'),
    prefix: z.string().default('/'),
    host: z.string().url().optional(),
    secret: text.optional(),
    relativeurls: bool.default(false),
    draintimeout: duration('0s'),
    headers: z.record(z.array(z.string())).default({}),
    tls: z
      .object({
        certificate: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        clientcas: z.array(z.string().min(1)).default([]),
        clientauth: z
          .enum([
            'request-client-cert',
            'require-any-client-cert',
            'verify-client-cert-if-given',
            'require-and-verify-client-cert',
          ])
          .optional(),
        minimumtls: z.enum(['tls1.0', 'tls1.1', 'tls1.2', 'tls1.3']).default('tls1.2'),
        ciphersuites: z.array(z.string()).default([]),
        letsencrypt: looseSection,
      })
      .superRefine((t, ctx) => {
        if (!t.letsencrypt && (!t.certificate || !t.key))
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'http.tls needs both certificate and key' });
      })
      .optional(),
    debug: z
      .object({
        addr: z.string().optional(),
        prometheus: z.object({ enabled: bool.default(false), path: z.string().default('/metrics') }).default({}),
      })
      .optional(),
    http2: z.object({ disabled: bool.default(false) }).optional(),
    h2c: z.object({ enabled: bool.default(false) }).optional(),
    /** wharf's own: proxies whose X-Forwarded-For / Forwarded name the client (src/auth/clientaddress.ts). */
    trustedproxies: trustedProxiesSchema,
  })
  .default({});

const platformSchema = z.object({ architecture: z.string(), os: z.string() });

const validationSchema = z
  .object({
    enabled: bool.optional(),
    disabled: bool.default(false),
    manifests: z
      .object({
        urls: z.object({ allow: z.array(z.string()).default([]), deny: z.array(z.string()).default([]) }).default({}),
        indexes: z
          .object({
            platforms: z.enum(['all', 'none', 'list']).default('all'),
            platformlist: z.array(platformSchema).default([]),
          })
          .default({}),
      })
      .default({}),
  })
  .default({});

/** The actions an event can carry (Distribution's EventAction constants). */
export const EVENT_ACTIONS = ['pull', 'push', 'mount', 'delete'] as const;

/** `notifications.endpoints[]`: Distribution's configuration.Endpoint. Zero or absent timeout/threshold/backoff mean the defaults, as there. */
const endpointSchema = z
  .object({
    name: text.refine((s) => s.length > 0, 'an endpoint needs a name'),
    disabled: bool.default(false),
    url: z.string().optional(),
    /** Static headers added to every POST (a map of lists, like http.headers; a single string is accepted too). */
    headers: z.record(z.union([text.transform((v) => [v]), z.array(text)])).default({}),
    timeout: duration('1s').transform((ms) => (ms > 0 ? ms : 1000)),
    threshold: z
      .number()
      .int()
      .default(10)
      .transform((n) => (n > 0 ? n : 10)),
    backoff: duration('1s').transform((ms) => (ms > 0 ? ms : 1000)),
    ignoredmediatypes: z.array(z.string()).default([]),
    ignore: z
      .object({
        mediatypes: z.array(z.string()).default([]),
        actions: z.array(z.enum(EVENT_ACTIONS)).default([]),
      })
      .default({}),
  })
  .superRefine((e, ctx) => {
    // A disabled endpoint is skipped entirely, as in Distribution: its url is not needed.
    if (e.disabled) return;
    let ok = false;
    try {
      const u = new URL(e.url ?? '');
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['url'],
        message: `must be an http:// or https:// URL, got ${JSON.stringify(e.url ?? '')}`,
      });
  });

const notificationsSchema = z
  .object({
    events: z.object({ includereferences: bool.default(false) }).default({}),
    endpoints: z.array(endpointSchema).default([]),
  })
  .default({});

export type EndpointConfig = z.output<typeof endpointSchema>;
export type NotificationsConfig = z.output<typeof notificationsSchema>;

/**
 * `redis`: Distribution v3's keys (go-redis UniversalOptions), v2's single `addr` too. One address is one server;
 * several are a Redis Cluster. Pool sizes parse but do not apply (warnings.ts says so): ioredis pipelines every
 * command over one connection per server.
 */
const redisSchema = z
  .object({
    addr: z.string().min(1).optional(),
    addrs: z.array(z.string().min(1)).optional(),
    username: text.optional(),
    password: text.optional(),
    db: intish.default(0),
    clientname: z.string().optional(),
    dialtimeout: duration('5s'),
    readtimeout: duration('3s'),
    writetimeout: duration('3s'),
    tls: z
      .object({
        enabled: bool.default(false),
        certificate: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        clientcas: z.array(z.string().min(1)).default([]),
      })
      .default({}),
    pool: z
      .object({ maxidle: intish.optional(), maxactive: intish.optional(), idletimeout: duration('300s') })
      .default({}),
    poolsize: intish.optional(),
    maxidleconns: intish.optional(),
    maxactiveconns: intish.optional(),
    minidleconns: intish.optional(),
  })
  .superRefine((r, ctx) => {
    if (!r.addr && (!r.addrs || r.addrs.length === 0))
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['addrs'],
        message: 'redis needs an address: addrs (a list of host:port) or addr',
      });
    if (r.tls.enabled && !!r.tls.certificate !== !!r.tls.key)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['tls'],
        message: 'redis.tls needs both certificate and key, or neither',
      });
  });

export type RedisConfig = z.output<typeof redisSchema>;

/**
 * wharf's own: login throttling for every password check (src/auth/bruteforce.ts has the contract). The limits
 * on one address and on one user name across addresses default to 3 and 10 times `maxfailures`. `blockfor`
 * (the old fixed block) is read as `backoff.max` when that is not set; load.ts warns about it.
 */
const bruteforceSchema = z
  .object({
    enabled: bool.default(true),
    maxfailures: z.number().int().positive().default(10),
    addressmaxfailures: z.number().int().positive().optional(),
    usermaxfailures: z.number().int().nonnegative().optional(),
    window: duration('30m'),
    backoff: z.object({ initial: duration('1s'), max: z.union([z.string(), z.number()]).optional() }).default({}),
    blockfor: z.union([z.string(), z.number()]).optional(),
  })
  .transform((b, ctx) => {
    const maxKey = b.backoff.max !== undefined ? 'max' : 'blockfor';
    const max = parseDuration(b.backoff.max ?? b.blockfor ?? '15m');
    if (max === null || max < 0) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: maxKey === 'max' ? ['backoff', 'max'] : ['blockfor'],
        message: `not a duration: ${JSON.stringify(b.backoff.max ?? b.blockfor)} (use e.g. "10s", "5m", "168h")`,
      });
      return z.NEVER;
    }
    if (b.backoff.initial <= 0 || max < b.backoff.initial) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['backoff'],
        message: 'backoff.initial must be above 0 and at most backoff.max',
      });
      return z.NEVER;
    }
    return {
      enabled: b.enabled,
      maxfailures: b.maxfailures,
      addressmaxfailures: b.addressmaxfailures ?? 3 * b.maxfailures,
      usermaxfailures: b.usermaxfailures ?? 10 * b.maxfailures,
      window: b.window,
      backoff: { initial: b.backoff.initial, max },
    };
  })
  .default({});

export type BruteforceConfig = z.output<typeof bruteforceSchema>;

/**
 * wharf's own: `wharf garbage-collect` never collects blobs or manifests younger than `graceperiod`; with
 * `schedule`, `wharf serve` runs the `policies` and garbage collection itself (src/policies/schema.ts).
 */
const gcSchema = z.object({ graceperiod: duration('1h'), schedule: scheduleSchema.optional() }).default({});

/** wharf's own: per-repository access rules (see src/auth/policy.ts for the matching rules). */
const accessSchema = z
  .object({
    groups: z.record(z.array(z.string().min(1))).default({}),
    rules: z
      .array(
        z.object({
          accounts: z.array(z.string().min(1)).min(1),
          repositories: z.array(z.string().min(1)).default([]),
          actions: z.array(z.enum(['pull', 'push', 'delete', 'overwrite', '*'])).default([]),
          catalog: bool.optional(),
        }),
      )
      .default([]),
  })
  .superRefine((a, ctx) => {
    a.rules.forEach((r, i) =>
      r.accounts.forEach((acc, j) => {
        if (acc.startsWith('group:') && !(acc.slice(6) in a.groups)) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: ['rules', i, 'accounts', j],
            message: `unknown group ${JSON.stringify(acc.slice(6))} (define it under access.groups)`,
          });
        }
      }),
    );
  });

/** wharf's own: the built-in Docker token server. */
const tokenServerSchema = z.object({
  enabled: bool.default(true),
  path: z.string().startsWith('/').default('/auth/token'),
  addr: z.string().optional(),
  issuer: text,
  service: text,
  htpasswd: z.string().min(1),
  key: z.string().min(1),
  certificate: z.string().min(1),
  expiration: duration('5m'),
  refreshexpiration: duration('720h'),
});

/** wharf's own: the web UI (src/ui), at `path` within http.prefix; at `/` only for requests that accept text/html. */
const uiSchema = z
  .object({
    enabled: bool.default(true),
    path: z
      .string()
      .startsWith('/')
      .refine((p) => !/^\/v2(\/|$)/.test(p) && !p.includes('/_ui'), 'must not be under /v2 nor contain /_ui')
      .default('/'),
  })
  .default({});

export const configSchema = z
  .object({
    version: z.union([z.string(), z.number()]).transform((v, ctx) => {
      const s = typeof v === 'number' ? String(v) : v;
      if (s !== '0.1') {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: `unsupported version ${JSON.stringify(s)}: only 0.1 exists`,
        });
        return z.NEVER;
      }
      return s;
    }),
    log: logSchema,
    loglevel: z.enum(['error', 'warn', 'info', 'debug']).optional(),
    storage: storageSchema,
    auth: authSchema,
    bruteforce: bruteforceSchema,
    access: accessSchema.optional(),
    tokenserver: tokenServerSchema.optional(),
    ui: uiSchema,
    gc: gcSchema,
    policies: z.preprocess((v) => v ?? undefined, policiesSchema),
    middleware: looseSection,
    http: httpSchema,
    notifications: z.preprocess((v) => v ?? undefined, notificationsSchema),
    redis: z.union([redisSchema, z.null()]).optional(),
    health: z
      .object({
        storagedriver: z
          .object({
            enabled: bool.default(false),
            interval: duration('10s'),
            threshold: z.number().int().positive().default(1),
          })
          .default({}),
        file: z.array(z.unknown()).optional(),
        http: z.array(z.unknown()).optional(),
        tcp: z.array(z.unknown()).optional(),
      })
      .default({}),
    proxy: proxySchema.nullable().optional(),
    catalog: z
      .object({
        maxentries: z.number().int().positive().default(1000),
        /** wharf: how old the kept repository list may get before it is checked against storage (default by driver). */
        revalidate: duration('0s').optional(),
      })
      .default({}),
    validation: validationSchema,
    reporting: looseSection,
    policy: looseSection,
    compatibility: looseSection,
  })
  .superRefine((c, ctx) => {
    if (c.storage.cache.blobdescriptor === 'redis' && !c.redis)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['storage', 'cache', 'blobdescriptor'],
        message: 'redis needs the redis section (redis.addrs)',
      });
  });

export type Config = z.output<typeof configSchema>;
