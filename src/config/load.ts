/**
 * Config loading: YAML (file, or the embedded default) -> REGISTRY_* overrides -> one validated, frozen Config.
 * Every problem is collected with its key path and reported in one ConfigError; unknown keys warn, except the
 * misspelt security settings unknown.ts turns into errors.
 */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { applyEnvOverrides } from './env.js';
import { issueMessage } from './messages.js';
import { configSchema, type Config, type FilesystemConfig, type S3Config } from './schema.js';
import { unknownKeys, unknownKeyMessage } from './unknown.js';
import { configWarnings } from './warnings.js';

export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    readonly source: string,
    readonly warnings: string[] = [],
  ) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: Readonly<Config>;
  warnings: string[];
  source: string;
}

/** The configuration `npm start` runs with when no file is given: filesystem under ./data, no auth. */
export const DEFAULT_CONFIG_YAML = `version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ./data
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
`;

/** Keys of features wharf does not implement yet. Errors where ignoring them would weaken security or lose data. */
const NOT_YET: Array<{ path: string[]; fatal: boolean; why: string }> = [
  {
    path: ['http', 'tls', 'letsencrypt'],
    fatal: true,
    why: "Let's Encrypt is not supported yet (it needs outbound ACME access); use certificate and key",
  },
  { path: ['storage', 'gcs'], fatal: true, why: 'the gcs storage driver is not supported' },
  { path: ['storage', 'azure'], fatal: true, why: 'the azure storage driver is not supported' },
  { path: ['storage', 'swift'], fatal: true, why: 'the swift storage driver is not supported' },
  { path: ['storage', 'oss'], fatal: true, why: 'the oss storage driver is not supported' },
  { path: ['http', 'h2c'], fatal: false, why: 'h2c is not supported yet' },
  { path: ['health', 'file'], fatal: false, why: 'file health checks are not supported yet' },
  { path: ['health', 'http'], fatal: false, why: 'http health checks are not supported yet' },
  { path: ['health', 'tcp'], fatal: false, why: 'tcp health checks are not supported yet' },
  { path: ['middleware'], fatal: false, why: 'middleware is not supported' },
  { path: ['log', 'hooks'], fatal: false, why: 'log hooks are not supported' },
  { path: ['reporting'], fatal: false, why: 'reporting (bugsnag, newrelic) is not supported' },
  { path: ['policy'], fatal: false, why: 'repository class policy is not supported yet' },
];

function get(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Distribution accepts `storage: inmemory` / `auth: none` style scalars for map-of-one sections. */
function normaliseScalarSections(raw: Record<string, unknown>): void {
  for (const key of ['storage', 'auth']) {
    const v = raw[key];
    if (typeof v === 'string' && v !== '') raw[key] = { [v]: {} };
  }
}

export interface LoadOptions {
  /** Path of config.yml; when absent, the embedded default. */
  path?: string;
  env?: NodeJS.ProcessEnv;
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const source = opts.path ?? '(embedded default)';
  let text: string;
  if (opts.path) {
    try {
      text = readFileSync(opts.path, 'utf8');
    } catch (err) {
      throw new ConfigError([`cannot read configuration file: ${(err as Error).message}`], source);
    }
  } else {
    text = DEFAULT_CONFIG_YAML;
  }
  return parseConfig(text, source, env);
}

export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = {}): LoadedConfig {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`),
      source,
    );
  }
  let raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(['(root): the configuration must be a YAML mapping'], source);
  const tree = raw as Record<string, unknown>;

  const overrides = applyEnvOverrides(tree, env);
  normaliseScalarSections(tree);

  const warnings: string[] = [];
  const problems: string[] = [];

  const parsed = configSchema.safeParse(tree);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      problems.push(`${issue.path.join('.') || '(root)'}: ${issueMessage(issue, tree)}`);
  }

  for (const o of overrides) if (o.ignored) warnings.push(`environment variable ${o.variable}: ${o.ignored}, ignored`);
  for (const u of unknownKeys(configSchema, tree)) {
    const fromEnv = overrides.find((o) => !o.ignored && `${o.path.join('.')}.`.startsWith(`${u.path}.`));
    (u.fatal ? problems : warnings).push(unknownKeyMessage(u, fromEnv?.variable));
  }

  for (const item of NOT_YET) {
    const v = get(tree, item.path);
    if (v === undefined) continue;
    const msg = `${item.path.join('.')}: ${item.why}`;
    (item.fatal ? problems : warnings).push(msg);
  }

  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems, source, warnings);
  const config = parsed.data;
  if (tree.loglevel !== undefined && get(tree, ['log', 'level']) === undefined) {
    config.log.level = config.loglevel as Config['log']['level'];
    warnings.push('loglevel: deprecated, use log.level');
  }
  if (get(tree, ['bruteforce', 'blockfor']) !== undefined) {
    warnings.push(
      get(tree, ['bruteforce', 'backoff', 'max']) !== undefined
        ? 'bruteforce.blockfor: deprecated, and ignored because bruteforce.backoff.max is set'
        : 'bruteforce.blockfor: deprecated: logins are no longer blocked for a fixed time; blockfor is read as bruteforce.backoff.max, the longest Retry-After (delays start at backoff.initial and double with each failure); rename it',
    );
  }
  if (!config.http.prefix.startsWith('/')) config.http.prefix = `/${config.http.prefix}`;
  if (!config.http.prefix.endsWith('/')) config.http.prefix = `${config.http.prefix}/`;
  warnings.push(...configWarnings(config, tree));
  return { config: deepFreeze(config), warnings, source };
}

/** The storage driver a config names, with its section as the schema typed and defaulted it. */
export type DriverConfig =
  | { name: 'filesystem'; params: FilesystemConfig }
  | { name: 's3'; params: S3Config }
  | { name: 'inmemory'; params: Record<string, unknown> }
  | { name: 'gcs' | 'azure' | 'swift' | 'oss'; params: Record<string, unknown> };

/** The one storage driver named in the config, with its parameters. */
export function storageDriverOf(config: Readonly<Config>): DriverConfig {
  const s = config.storage;
  if (s.filesystem) return { name: 'filesystem', params: s.filesystem };
  if (s.s3) return { name: 's3', params: s.s3 };
  if (s.inmemory !== undefined) return { name: 'inmemory', params: s.inmemory ?? {} };
  // Refused by NOT_YET before a config gets here; named so that createDriver says which.
  const name = (['gcs', 'azure', 'swift', 'oss'] as const).find((k) => s[k] !== undefined)!;
  return { name, params: {} };
}
