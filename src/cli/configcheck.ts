/**
 * `wharf config check config.yml`: prints the effective configuration (file + REGISTRY_* overrides + defaults),
 * secrets masked, then every warning and problem with its key path, the files it names included (htpasswd,
 * token keys, TLS certificate and key). Exit 0 when it would start, 1 otherwise.
 */
import YAML from 'yaml';
import { describePolicy, throttlePolicyOf } from '../auth/bruteforcepolicy.js';
import { authFileProblems } from '../config/files.js';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { explainPolicies } from '../policies/match.js';
import { loadTlsMaterial, tlsWarnings } from '../http/tls.js';

/** Keys whose values are secrets, wherever they appear. */
const SECRET_KEYS = new Set(['secret', 'password', 'secretkey', 'accesskey', 'sessiontoken', 'authorization']);

export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      SECRET_KEYS.has(k.toLowerCase()) && v !== undefined && v !== null && v !== '' ? '********' : maskSecrets(v);
  }
  return out;
}

/** Login throttling and the client address in words, as YAML comments after the configuration. */
function explainThrottling(config: Readonly<Config>): string[] {
  const proxies = config.http.trustedproxies;
  return [
    '',
    'login throttling (bruteforce):',
    ...describePolicy(throttlePolicyOf(config.bruteforce)).map((l) => `  - ${l}`),
    proxies.length === 0
      ? '  - the client address is the TCP peer; X-Forwarded-For and Forwarded are ignored (http.trustedproxies is empty)'
      : `  - the client address is taken from X-Forwarded-For (else Forwarded) when the peer is one of ${proxies.join(', ')} (http.trustedproxies): the right-most address no trusted proxy vouches for`,
  ];
}

/** 90000000 -> "25h", 5400000 -> "1h30m", 1500 -> "1.5s". */
export function formatMs(ms: number): string {
  if (ms === 0) return '0s';
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}

/** What `wharf serve` would refuse or warn about in the files the configuration names. */
function fileProblems(config: Readonly<Config>): { problems: string[]; warnings: string[] } {
  const { problems, warnings } = authFileProblems(config);
  const tls = config.http.tls;
  if (tls?.certificate && tls.key) {
    try {
      warnings.push(...tlsWarnings(tls, loadTlsMaterial(tls)));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return { problems, warnings };
}

export function configCheck(path: string | undefined, out: NodeJS.WritableStream, err: NodeJS.WritableStream): number {
  try {
    const { config, warnings, source } = loadConfig({ path });
    const files = fileProblems(config);
    warnings.push(...files.warnings);
    if (files.problems.length > 0) throw new ConfigError(files.problems, source, warnings);
    out.write(`# effective configuration of ${source} (secrets masked; durations in milliseconds)\n`);
    out.write(YAML.stringify(maskSecrets(config)));
    const rules = explainPolicies(config.policies, formatMs);
    if (rules.length > 0)
      out.write(
        `# what the policies do (a repository follows the first rule that matches it):\n${rules.map((r) => `#   ${r}`).join('\n')}\n`,
      );
    if (config.gc.schedule)
      out.write(
        `# gc.schedule: cleanup (policies, then garbage collection) runs every ${formatMs(config.gc.schedule.interval)}, ${formatMs(config.gc.schedule.offset)} after each multiple of it since 1970-01-01 UTC\n`,
      );
    out.write(
      explainThrottling(config)
        .map((l) => `# ${l}\n`)
        .join(''),
    );
    for (const w of warnings) err.write(`warning: ${w}\n`);
    err.write(
      warnings.length > 0 ? `configuration is valid, with ${warnings.length} warning(s)\n` : 'configuration is valid\n',
    );
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const w of e.warnings) err.write(`warning: ${w}\n`);
    for (const p of e.problems) err.write(`error: ${p}\n`);
    err.write(`configuration is invalid: ${e.problems.length} problem(s) in ${e.source}\n`);
    return 1;
  }
}
