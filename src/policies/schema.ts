/**
 * `policies:` (wharf only; Distribution ignores the key): lifecycle rules per set of repositories. The first rule
 * whose `repositories` match a repository decides for it, as in `access.rules`.
 *
 *   repositories:    globs over repository names (`*` within one path component, `**` across components)
 *   immutable:       tag globs: such a tag, once pushed, is never moved to another digest nor deleted
 *   keep:            a list of selectors; a tag any selector keeps stays, every other tag is untagged by cleanup
 *     tags:          tag globs the selector looks at (default: every tag)
 *     recent:        of those, keep the N most recently pushed
 *     pushedwithin:  of those, keep the ones pushed within this duration
 *                    (neither recent nor pushedwithin: keep every tag matching `tags`)
 *   deleteuntagged:  delete manifests no tag reaches once their push is older than this duration
 *
 * See docs/lifecycle.md for what cleanup never deletes (index children, referrers and subjects of kept manifests).
 */
import { z } from 'zod';
import { parseDuration } from '../config/duration.js';

const durationMs = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null || ms < 0) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `not a duration: ${JSON.stringify(v)} (use e.g. "30m", "168h")`,
    });
    return z.NEVER;
  }
  return ms;
});

/** A tag glob: tag characters and `*`. */
const tagPattern = z
  .string()
  .min(1)
  .refine(
    (p) => /^[A-Za-z0-9_.*-]+$/.test(p) && p.length <= 128,
    (p) => ({ message: `not a tag pattern: ${JSON.stringify(p)} (tag characters A-Z a-z 0-9 _ . - and * only)` }),
  );

/** A repository glob, as in access.rules but without `${account}` (cleanup runs for no account). */
const repositoryPattern = z
  .string()
  .min(1)
  .refine((p) => !p.includes('${account}'), 'policies apply to no account: ${account} has no meaning here')
  .refine(
    (p) => /^[a-z0-9._\-/*]+$/.test(p),
    (p) => ({ message: `not a repository pattern: ${JSON.stringify(p)} (lower-case name characters, / and * only)` }),
  );

const keepSchema = z
  .object({
    tags: z.array(tagPattern).min(1).optional(),
    recent: z.number().int().min(0).optional(),
    pushedwithin: durationMs.optional(),
  })
  .strict();

export const policyRuleSchema = z
  .object({
    repositories: z.array(repositoryPattern).min(1),
    immutable: z.array(tagPattern).default([]),
    keep: z.array(keepSchema).min(1, 'keep needs at least one selector (leave keep out to untag nothing)').optional(),
    deleteuntagged: durationMs.optional(),
  })
  .strict();

export const policiesSchema = z.array(policyRuleSchema).default([]);

export type PolicyRule = z.output<typeof policyRuleSchema>;
export type KeepSelector = z.output<typeof keepSchema>;
export type PoliciesConfig = z.output<typeof policiesSchema>;

/**
 * `gc.schedule`: run retention (the `policies`) and garbage collection inside `wharf serve` once per `interval`.
 * Periods are aligned to the Unix epoch plus `offset` (UTC), so every replica agrees on them: `interval: 24h`,
 * `offset: 3h` runs at 03:00 UTC. A plain duration (`schedule: 24h`) is the interval with no offset. `lease` is how
 * long a replica that stops answering keeps the run before another takes it over (with `redis`).
 */
export const scheduleSchema = z.preprocess(
  (v) => (typeof v === 'string' || typeof v === 'number' ? { interval: v } : v),
  z
    .object({
      interval: durationMs.refine((ms) => ms >= 1000, 'must be at least 1s'),
      offset: durationMs.default('0s'),
      lease: durationMs.refine((ms) => ms >= 1000, 'must be at least 1s').default('60s'),
    })
    .strict()
    .superRefine((s, ctx) => {
      if (s.offset >= s.interval)
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['offset'], message: 'must be shorter than interval' });
    }),
);

export type ScheduleConfig = z.output<typeof scheduleSchema>;
