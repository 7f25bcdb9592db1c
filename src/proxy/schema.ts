/**
 * The `proxy` section of config.yml (pull-through cache). Distribution's keys (`remoteurl`, `username`,
 * `password`, `exec`, `ttl`, `cachewritetimeout`) are the short form of one upstream; wharf's `upstreams` list adds
 * more, each claiming a repository prefix. Mapped to runtime upstreams by config.ts.
 */
import { z } from 'zod';
import { durationValue as duration, text } from '../config/types.js';

const url = z.string().refine((u) => {
  try {
    const p = new URL(u);
    return (p.protocol === 'http:' || p.protocol === 'https:') && p.host !== '';
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL');

/** v3's credential helper: `command get`, the registry host on stdin, `{"Username","Secret"}` on stdout. */
const execSchema = z.object({ command: z.string().min(1), lifetime: duration.optional() });

/** What one upstream needs; shared by the short form and every `upstreams` entry. */
const upstreamFields = {
  remoteurl: url,
  username: text.optional(),
  password: text.optional(),
  exec: execSchema.optional(),
  /** Cached tags are revalidated, and unused cached content expires, after this long; 0 = never. Default 168h. */
  ttl: duration.optional(),
  /** wharf only: cached content neither fetched nor revalidated for this long is removed (default: `ttl`; 0 = never). */
  expire: duration.optional(),
  /** v3: how long a cache write may take. wharf bounds each upstream request by `timeout` instead; accepted. */
  cachewritetimeout: duration.optional(),
  /** wharf only: an upstream request that sends no byte for this long fails (default 30s). */
  timeout: duration.optional(),
  /** wharf only: the hosts containerd names in `?ns=` that this upstream serves (default: its own host; docker.io for Docker Hub). */
  ns: z.array(z.string().min(1)).optional(),
};

const prefix = z
  .string()
  .regex(
    /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$/,
    'must be a repository name path such as "hub" or "mirror/ghcr"',
  );

export const proxySchema = z
  .object({
    ...upstreamFields,
    remoteurl: url.optional(),
    upstreams: z.array(z.object({ prefix, ...upstreamFields })).default([]),
  })
  .superRefine((p, ctx) => {
    if (p.remoteurl === undefined && p.upstreams.length === 0)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['remoteurl'],
        message: 'required key is missing (or list upstreams)',
      });
    const seen = new Set<string>();
    p.upstreams.forEach((u, i) => {
      if (seen.has(u.prefix))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['upstreams', i, 'prefix'],
          message: `prefix ${JSON.stringify(u.prefix)} is used twice`,
        });
      for (const other of seen) {
        if (u.prefix.startsWith(`${other}/`) || other.startsWith(`${u.prefix}/`))
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: ['upstreams', i, 'prefix'],
            message: `prefix ${JSON.stringify(u.prefix)} overlaps ${JSON.stringify(other)}`,
          });
      }
      seen.add(u.prefix);
    });
  });

export type ProxyConfig = z.output<typeof proxySchema>;
