/** The zod building blocks every config section uses: durations, YAML-tolerant scalars, free-form maps. */
import { z } from 'zod';
import { parseDuration } from './duration.js';

/** A duration ("10s", "1h30m", or a number of nanoseconds as Distribution reads it) -> milliseconds; no default. */
export const durationValue = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null || ms < 0) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `not a duration: ${JSON.stringify(v)} (use e.g. "10s", "5m", "168h")`,
    });
    return z.NEVER;
  }
  return ms;
});

/** `durationValue` with a default for an absent key (the default is parsed like any value). */
export const duration = (def: string) => durationValue.default(def);

export const bool = z.boolean();
/** An integer, also when YAML or an environment variable gave it as a string. */
export const intish = z.union([z.number().int(), z.string().regex(/^\d+$/)]).transform(Number);
/** Free text that YAML may have read as a number or boolean (`secret: 0123`, `REGISTRY_HTTP_SECRET=123456`). */
export const text = z.union([z.string(), z.number(), z.boolean()]).transform(String);
export const anyMap = z.record(z.unknown());
/** A section wharf only checks loosely for now: any mapping. */
export const looseSection = z.union([anyMap, z.null()]).optional();
