/**
 * `wharf policies plan [--json] config.yml`: what the `policies` would untag and delete on the configured
 * storage right now, and the bytes that frees; changes nothing. `wharf garbage-collect --policies` runs it.
 */
import { ConfigError, loadConfig, storageDriverOf } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { PolicySet } from '../policies/match.js';
import { makePlan, type Plan } from '../policies/plan.js';
import { Registry } from '../registry/registry.js';
import { createDriver } from '../storage/index.js';
import type { StorageDriver } from '../storage/driver.js';
import { formatBytes, type GcIo } from './gc.js';

/** A registry over `driver` for offline use (no HTTP): it only reads, untags and deletes. */
export function offlineRegistry(driver: StorageDriver): Registry {
  return new Registry(driver, {
    deleteEnabled: true,
    readOnly: false,
    redirect: false,
    validation: { disabled: true, urls: { allow: [], deny: [] }, indexes: { platforms: 'all', platformlist: [] } },
  });
}

const iso = (t: number) => new Date(t).toISOString();

/** The plan as lines: `untag <repo>:<tag> <digest> pushed <time>`, `delete manifest <repo>@<digest> ...`, `free blob <digest> <bytes>`. */
export function formatPlan(
  plan: Plan,
  verb: { untag: string; del: string; free: string } = { untag: 'untag', del: 'delete', free: 'free' },
): string[] {
  const out: string[] = [];
  let tags = 0;
  let manifests = 0;
  for (const r of plan.repositories) {
    out.push(
      `# ${r.repository} (policies[${r.rule}]): keeps ${r.keep.length} tags, ${verb.untag} ${r.untag.length}, ${verb.del} ${r.deleteManifests.length} manifests`,
    );
    for (const t of r.untag) out.push(`${verb.untag} ${r.repository}:${t.tag} ${t.digest} pushed ${iso(t.pushedAt)}`);
    for (const t of r.deferred)
      out.push(`# later: ${r.repository}:${t.tag} ${t.digest} (its manifest is younger than the grace period)`);
    for (const m of r.deleteManifests)
      out.push(`${verb.del} manifest ${r.repository}@${m.digest} pushed ${iso(m.pushedAt)}`);
    tags += r.untag.length;
    manifests += r.deleteManifests.length;
  }
  for (const b of plan.blobs) out.push(`${verb.free} blob ${b.digest} ${b.size}`);
  out.push(
    `# total: ${tags} tags, ${manifests} manifests, ${plan.blobs.length} blobs, ${formatBytes(plan.bytesFreed)} (${plan.bytesFreed} bytes) freed; grace period ${plan.graceMs} ms`,
  );
  return out;
}

/** The plan as JSON (times as ISO strings). */
export function planJson(plan: Plan): unknown {
  return {
    now: iso(plan.now),
    graceMs: plan.graceMs,
    repositories: plan.repositories.map((r) => ({
      repository: r.repository,
      rule: r.rule,
      keep: r.keep.map((t) => ({ tag: t.tag, digest: t.digest, pushed: iso(t.pushedAt) })),
      untag: r.untag.map((t) => ({ tag: t.tag, digest: t.digest, pushed: iso(t.pushedAt) })),
      deferred: r.deferred.map((t) => ({ tag: t.tag, digest: t.digest, pushed: iso(t.pushedAt) })),
      deleteManifests: r.deleteManifests.map((m) => ({ digest: m.digest, pushed: iso(m.pushedAt) })),
    })),
    blobs: plan.blobs,
    bytesFreed: plan.bytesFreed,
  };
}

/** Loads the config for a command; writes the problem and returns null when it cannot. */
export function loadFor(command: string, configPath: string | undefined, io: GcIo): Readonly<Config> | null {
  const path = configPath ?? process.env.REGISTRY_CONFIGURATION_PATH;
  if (!path) {
    io.err.write(`wharf ${command}: a configuration file is required (argument, or REGISTRY_CONFIGURATION_PATH)\n`);
    return null;
  }
  try {
    const { config, warnings } = loadConfig({ path });
    for (const w of warnings) io.err.write(`warning: config: ${w}\n`);
    return config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err.write(`wharf ${command}: ${err.message}\n`);
    return null;
  }
}

export async function policiesPlanCommand(
  configPath: string | undefined,
  opts: { json?: boolean },
  io: GcIo,
): Promise<number> {
  const config = loadFor('policies plan', configPath, io);
  if (!config) return 1;
  if (config.policies.length === 0)
    io.err.write('warning: no policies are configured: nothing would be untagged or deleted\n');
  const driver = await createDriver(storageDriverOf(config));
  try {
    const plan = await makePlan(offlineRegistry(driver), new PolicySet(config.policies), {
      graceMs: config.gc.graceperiod,
      exact: true,
    });
    io.out.write(opts.json ? `${JSON.stringify(planJson(plan), null, 2)}\n` : `${formatPlan(plan).join('\n')}\n`);
    return 0;
  } catch (err) {
    io.err.write(`wharf policies plan: failed: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await driver.close?.();
  }
}
