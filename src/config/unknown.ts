/**
 * Keys the schema does not know. Most only warn, as in Distribution. Two kinds are errors, because the registry
 * would otherwise start with less protection than the file asks for:
 *  - a key that looks like a misspelling of a security setting that is not set (`auth.htpasswd.pth`,
 *    `http.tsl`, `auht`, `http.tls.clientca`): the setting it meant would silently keep its (weaker) default;
 *  - a security section written one level too high (`htpasswd:` or `tls:` at the top level, a wrong indent).
 */
import { z } from 'zod';
import { AUTH_METHOD_NAMES, KEYED_SECTIONS } from './authschema.js';
import { nearestKey } from './suggest.js';

/** Sections whose meaning is security: a setting missing there weakens the registry. */
export const SECURITY_SECTIONS = ['auth', 'http.tls', 'access', 'tokenserver'] as const;

export function isSecurityPath(path: string): boolean {
  return SECURITY_SECTIONS.some((s) => path === s || path.startsWith(`${s}.`));
}

/** Top-level keys that belong one level down. */
const MISPLACED: Record<string, string> = {
  ...Object.fromEntries(AUTH_METHOD_NAMES.map((m) => [m, 'auth'])),
  tls: 'http',
};

export interface UnknownKey {
  /** The key's path, dot-joined. */
  path: string;
  /** The known key it most likely misspells. */
  suggestion?: string;
  /** Why it is an error rather than a warning, when it is one. */
  fatal?: string;
}

function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let s = schema;
  for (;;) {
    if (KEYED_SECTIONS.has(s)) return s;
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    else if (s instanceof z.ZodDefault) s = s._def.innerType;
    else if (s instanceof z.ZodEffects) s = s.innerType();
    else return s;
  }
}

function classify(
  parent: string[],
  key: string,
  shape: Record<string, unknown>,
  value: Record<string, unknown>,
): UnknownKey {
  const path = [...parent, key].join('.');
  if (parent.length === 0 && key in MISPLACED) {
    return {
      path,
      suggestion: `${MISPLACED[key]}.${key}`,
      fatal: `${key} belongs under ${MISPLACED[key]}:, indent it there`,
    };
  }
  const suggestion = nearestKey(key, Object.keys(shape));
  if (suggestion && value[suggestion] === undefined && isSecurityPath([...parent, suggestion].join('.'))) {
    return {
      path,
      suggestion,
      fatal: `an error, not a warning: the security setting ${[...parent, suggestion].join('.')} would be left unset`,
    };
  }
  return { path, suggestion };
}

/** Keys present in `value` that `schema` does not know. Records of free-form maps are not descended. */
export function unknownKeys(schema: z.ZodTypeAny, value: unknown, path: string[] = []): UnknownKey[] {
  const s = unwrap(schema);
  if (typeof value !== 'object' || value === null) return [];
  const keyed = KEYED_SECTIONS.get(s);
  if (keyed) {
    // Unknown options of a keyed section are the section's own errors; known ones are descended.
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
      k in keyed ? unknownKeys(keyed[k], v, [...path, k]) : [],
    );
  }
  if (s instanceof z.ZodUnion) {
    const objectOption = (s.options as z.ZodTypeAny[]).find((o) => unwrap(o) instanceof z.ZodObject);
    return objectOption ? unknownKeys(objectOption, value, path) : [];
  }
  if (s instanceof z.ZodObject) {
    const shape = s.shape as Record<string, z.ZodTypeAny>;
    const map = value as Record<string, unknown>;
    return Object.entries(map).flatMap(([k, v]) =>
      k in shape ? unknownKeys(shape[k], v, [...path, k]) : [classify(path, k, shape, map)],
    );
  }
  if (s instanceof z.ZodArray && Array.isArray(value)) {
    return value.flatMap((v, i) => unknownKeys(s.element, v, [...path, String(i)]));
  }
  return [];
}

/** The warning or error line for an unknown key; `via` names the REGISTRY_* variable that set it, if one did. */
export function unknownKeyMessage(u: UnknownKey, via?: string): string {
  const from = via ? ` (from environment variable ${via})` : '';
  const mean = u.suggestion ? `, did you mean ${u.suggestion}?` : '';
  if (u.fatal) return `${u.path}: unknown key${from}${mean} (${u.fatal})`;
  return u.suggestion ? `${u.path}: unknown key${from}${mean} (ignored)` : `${u.path}: unknown key${from}, ignored`;
}
