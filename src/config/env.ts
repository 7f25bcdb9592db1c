/**
 * REGISTRY_* environment overrides, applied as Distribution applies them: variables sorted by name, the name
 * after `REGISTRY_` split at `_` into a key path, each part matched case-insensitively against existing keys
 * (else lower-cased), numeric parts indexing lists, and the value parsed as YAML.
 */
import YAML from 'yaml';

export const ENV_PREFIX = 'REGISTRY_';
/** Variables Distribution reads for other purposes; never overrides. */
const RESERVED = new Set(['REGISTRY_CONFIGURATION_PATH']);

/** Sections Distribution also accepts as a bare name (`storage: inmemory`): a child override keeps that name. */
const NAMED_SECTIONS = new Set(['storage', 'auth']);

export interface EnvOverride {
  variable: string;
  path: string[];
  /** Set when the variable could not be applied (Distribution warns and ignores it). */
  ignored?: string;
}

type Node = Record<string, unknown> | unknown[];

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function childKey(node: Node, part: string): string | number {
  if (Array.isArray(node)) return Number(part);
  const existing = Object.keys(node).find((k) => k.toUpperCase() === part.toUpperCase());
  return existing ?? part.toLowerCase();
}

function parseValue(raw: string): unknown {
  try {
    return YAML.parse(raw);
  } catch {
    return raw;
  }
}

/** Applies the overrides to `root` in place and returns what was applied, with the resolved key paths. */
export function applyEnvOverrides(root: Record<string, unknown>, env: NodeJS.ProcessEnv): EnvOverride[] {
  const applied: EnvOverride[] = [];
  const names = Object.keys(env)
    .filter((n) => n.startsWith(ENV_PREFIX) && !RESERVED.has(n) && n.length > ENV_PREFIX.length)
    .sort();
  for (const variable of names) {
    const parts = variable.slice(ENV_PREFIX.length).split('_');
    if (parts.some((p) => p === '')) {
      applied.push({ variable, path: [], ignored: 'empty key path component' });
      continue;
    }
    let node: Node = root;
    const path: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const key = childKey(node, parts[i]);
      if (Array.isArray(node) && (!Number.isInteger(key) || (key as number) < 0)) {
        applied.push({ variable, path: [], ignored: `${JSON.stringify(parts[i])} is not a list index` });
        break;
      }
      path.push(String(key));
      const last = i === parts.length - 1;
      if (last) {
        (node as Record<string | number, unknown>)[key] = parseValue(env[variable] ?? '');
        applied.push({ variable, path });
        break;
      }
      let next = (node as Record<string | number, unknown>)[key];
      if (!isMap(next) && !Array.isArray(next)) {
        if (path.length === 1 && NAMED_SECTIONS.has(String(key)) && typeof next === 'string' && next !== '')
          next = { [next]: {} };
        else next = /^\d+$/.test(parts[i + 1]) ? [] : {};
        (node as Record<string | number, unknown>)[key] = next;
      }
      node = next as Node;
    }
  }
  return applied;
}
