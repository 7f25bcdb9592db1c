/**
 * `wharf config check config.yml`: prints the effective configuration (file + REGISTRY_* overrides + defaults),
 * secrets masked, then every warning and problem with its key path. Exit 0 when it would start, 1 otherwise.
 */
import YAML from 'yaml';
import { ConfigError, loadConfig } from '../config/load.js';

/** Keys whose values are secrets, wherever they appear. */
const SECRET_KEYS = new Set(['secret', 'password', 'secretkey', 'accesskey', 'sessiontoken', 'authorization']);

export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEYS.has(k.toLowerCase()) && v !== undefined && v !== null && v !== '' ? '********' : maskSecrets(v);
  }
  return out;
}

export function configCheck(path: string | undefined, out: NodeJS.WritableStream, err: NodeJS.WritableStream): number {
  try {
    const { config, warnings, source } = loadConfig({ path });
    out.write(`# effective configuration of ${source} (secrets masked; durations in milliseconds)\n`);
    out.write(YAML.stringify(maskSecrets(config)));
    for (const w of warnings) err.write(`warning: ${w}\n`);
    err.write(warnings.length > 0 ? `configuration is valid, with ${warnings.length} warning(s)\n` : 'configuration is valid\n');
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const w of e.warnings) err.write(`warning: ${w}\n`);
    for (const p of e.problems) err.write(`error: ${p}\n`);
    err.write(`configuration is invalid: ${e.problems.length} problem(s) in ${e.source}\n`);
    return 1;
  }
}
