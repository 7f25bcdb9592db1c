/**
 * `auth:`: one schema per method, chosen by the method's key. Not a zod union: a union reports every mistake in
 * any method as "auth: Invalid input"; here each mistake is named by its key path. An unknown, misspelt or
 * mis-cased method, or more than one method, is an error: the registry never starts open because of a typo.
 */
import { z } from 'zod';
import { nearestKey } from './suggest.js';
import { anyMap, bool, text } from './types.js';

/** A method written with nothing under it (`htpasswd:`) is checked as empty, so each missing key is named. */
const method = <T extends z.ZodRawShape>(shape: T) => z.preprocess((v) => v ?? {}, z.object(shape));

export const AUTH_METHODS = {
  htpasswd: method({ realm: text, path: z.string().min(1) }),
  token: z.preprocess(
    (v) => v ?? {},
    z
      .object({
        realm: text,
        service: text,
        issuer: text,
        rootcertbundle: z.string().min(1).optional(),
        jwks: z.string().min(1).optional(),
        autoredirect: bool.default(false),
        autoredirectpath: z.string().default('/auth/token'),
        signingalgorithms: z.array(z.string()).optional(),
      })
      .superRefine((t, ctx) => {
        if (!t.rootcertbundle && !t.jwks)
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            message: 'needs rootcertbundle or jwks (the certificates or keys your token server signs with)',
          });
      }),
  ),
  silly: method({ realm: text, service: text.optional() }),
  none: z.union([anyMap, z.null()]),
} as const;

type Methods = typeof AUTH_METHODS;
export type AuthConfig = { [K in keyof Methods]?: z.output<Methods[K]> };
export const AUTH_METHOD_NAMES = Object.keys(AUTH_METHODS) as Array<keyof Methods>;

/** Sections whose value is a map of exactly one named option (auth methods): unknownKeys() descends through this. */
export const KEYED_SECTIONS = new WeakMap<z.ZodTypeAny, Record<string, z.ZodTypeAny>>();

/** The keys of the methods (realm, path, ...) -> the methods that have them, to spot a method's key one level too high. */
function methodsWithKey(key: string): string[] {
  return AUTH_METHOD_NAMES.filter((m) => {
    const s = AUTH_METHODS[m];
    const inner = s instanceof z.ZodEffects ? (s.innerType() as z.ZodTypeAny) : s;
    const obj = inner instanceof z.ZodEffects ? inner.innerType() : inner;
    return obj instanceof z.ZodObject && key in obj.shape;
  });
}

function unknownMethod(key: string): string {
  const known = `the methods: ${AUTH_METHOD_NAMES.join(', ')}`;
  const owners = methodsWithKey(key);
  if (owners.length > 0)
    return `not an auth method but a key of ${owners.map((m) => `auth.${m}`).join(', ')}: indent it under the method (${known})`;
  const near = nearestKey(key, AUTH_METHOD_NAMES);
  return `unknown auth method ${JSON.stringify(key)}${near ? `, did you mean ${near}?` : ''} (${known})`;
}

export const authSchema = z.unknown().transform((value, ctx): AuthConfig | undefined => {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `must be a mapping holding one auth method (${AUTH_METHOD_NAMES.join(', ')}), got ${JSON.stringify(value)}`,
    });
    return z.NEVER;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  let ok = true;
  for (const [key] of entries) {
    if (!(key in AUTH_METHODS)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message: unknownMethod(key) });
      ok = false;
    }
  }
  const chosen = entries.filter(([k]) => k in AUTH_METHODS);
  if (chosen.length > 1) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `exactly one auth method may be configured, found ${chosen.map(([k]) => k).join(', ')}`,
    });
    ok = false;
  }
  const out: AuthConfig = {};
  for (const [name, v] of chosen) {
    const parsed = AUTH_METHODS[name as keyof Methods].safeParse(v);
    if (parsed.success) (out as Record<string, unknown>)[name] = parsed.data;
    else {
      ok = false;
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: [name, ...issue.path] } as z.IssueData);
    }
  }
  return ok ? out : z.NEVER;
});
KEYED_SECTIONS.set(authSchema, AUTH_METHODS);
