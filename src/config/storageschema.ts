/** The `storage` section of config.yml: the driver sections (filesystem, s3, ...) and the driver-independent keys. */
import { z } from 'zod';
import { anyMap, bool, duration, intish, looseSection, text } from './types.js';

const MiB = 1024 * 1024;
/** S3's smallest multipart part. */
const MIN_PART = 5 * MiB;

/** `storage.filesystem`. `maxthreads` parses (Distribution's key) but has no effect: warnings.ts says so. */
const filesystemSchema = z.object({
  rootdirectory: z.string().min(1).default('/var/lib/registry'),
  maxthreads: z.number().int().min(25).optional(),
  fsync: bool.optional(),
});
export type FilesystemConfig = z.output<typeof filesystemSchema>;

/**
 * `storage.s3`, with Distribution's defaults; the driver (src/storage/s3.ts) takes this as it is. `v4auth: false`
 * and `loglevel` parse but have no effect (warnings.ts); `usedualstack` and `accelerate` apply to AWS endpoints only.
 */
export const s3Schema = z.object({
  accesskey: text.optional(),
  secretkey: text.optional(),
  sessiontoken: text.optional(),
  region: z.string().min(1),
  regionendpoint: z.string().optional(),
  forcepathstyle: bool.default(false),
  bucket: z.string().min(1),
  encrypt: bool.default(false),
  keyid: z.string().optional(),
  secure: bool.default(true),
  skipverify: bool.default(false),
  v4auth: bool.default(true),
  chunksize: intish.refine((n) => n >= MIN_PART, 'must be at least 5 MiB (5242880)').default(10 * MiB),
  multipartcopychunksize: intish.refine((n) => n >= MIN_PART, 'must be at least 5 MiB (5242880)').default(32 * MiB),
  multipartcopymaxconcurrency: intish.refine((n) => n >= 1, 'must be at least 1').default(16),
  multipartcopythresholdsize: intish.default(32 * MiB),
  rootdirectory: z.string().default(''),
  storageclass: z.string().default('STANDARD'),
  objectacl: z.string().optional(),
  useragent: z.string().optional(),
  usedualstack: bool.optional(),
  accelerate: bool.optional(),
  loglevel: z.string().optional(),
  /** Attempts per request, with the SDK's exponential backoff between them. */
  maxattempts: intish.default(5),
  /** wharf's own, ms: connection set-up, and socket inactivity before a request fails (then retried). */
  connecttimeout: intish.default(5000),
  requesttimeout: intish.default(60_000),
});
export type S3Config = z.output<typeof s3Schema>;

export const storageSchema = z
  .object({
    delete: z.object({ enabled: bool.default(false) }).default({}),
    redirect: z.object({ disable: bool.default(false) }).default({}),
    maintenance: z
      .object({
        uploadpurging: z
          .object({
            enabled: bool.default(true),
            age: duration('168h'),
            interval: duration('24h'),
            dryrun: bool.default(false),
          })
          .default({}),
        readonly: z.object({ enabled: bool.default(false) }).default({}),
      })
      .default({}),
    cache: z
      .object({
        blobdescriptor: z.string().default('inmemory'),
        blobdescriptorsize: z.number().int().positive().optional(),
        /** wharf: how long a tag looked up for a pull is trusted before storage is asked again (tags.ts). */
        tagttl: duration('1s'),
      })
      .default({}),
    tag: z.object({ concurrencylimit: z.number().int().positive().optional() }).default({}),
    // `filesystem:` with nothing under it means every default (not a union with null: a union reports a bad field
    // as "storage.filesystem: Invalid input").
    filesystem: z.preprocess((v) => (v === null ? {} : v), filesystemSchema.optional()),
    inmemory: z.union([anyMap, z.null()]).optional(),
    s3: s3Schema.optional(),
    gcs: looseSection,
    azure: looseSection,
    swift: looseSection,
    oss: looseSection,
  })
  .superRefine((s, ctx) => {
    const drivers = STORAGE_DRIVER_KEYS.filter((k) => k in s && (s as Record<string, unknown>)[k] !== undefined);
    if (drivers.length === 0)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `exactly one storage driver is required (one of ${STORAGE_DRIVER_KEYS.join(', ')})`,
      });
    if (drivers.length > 1)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `only one storage driver may be configured, found ${drivers.join(', ')}`,
      });
  });

export const STORAGE_DRIVER_KEYS = ['filesystem', 'inmemory', 's3', 'gcs', 'azure', 'swift', 'oss'] as const;
