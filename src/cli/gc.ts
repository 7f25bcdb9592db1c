/**
 * `wharf garbage-collect [--dry-run] [--delete-untagged] [--policies] [--grace <duration>] config.yml`:
 * Distribution's `registry garbage-collect` (same flags, `-d` and `-m` included), safe to run while the registry
 * serves. `--policies` first applies the `policies` (src/policies), as `gc.schedule` does inside the server. On a
 * mirror (`proxy`), expired cached content is removed first, as the server's expiry does (src/proxy/expiry.ts).
 * Prints each removed item, then one summary line; a progress line only when stdout is a terminal.
 */
import { ConfigError, loadConfig, storageDriverOf, type DriverConfig } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { garbageCollect, type GcProgress, type GcReport } from '../registry/gc.js';
import { runCleanup } from '../policies/cleanup.js';
import { PolicySet } from '../policies/match.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../log.js';
import { Notifier } from '../notifications/index.js';
import { createDriver } from '../storage/index.js';
import { upstreamsOf } from '../proxy/config.js';
import { expireOffline } from '../proxy/expiry.js';
import { formatPlan, offlineRegistry } from './policies.js';

export interface GcCommandOptions {
  dryRun?: boolean;
  deleteUntagged?: boolean;
  grace?: string;
  /** Apply the `policies` first (retention), then collect. */
  policies?: boolean;
}

export interface GcIo {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream;
}

const PHASE_TEXT: Record<GcProgress['phase'], string> = {
  scanning: 'scanning repositories',
  marking: 'marking manifests',
  sweeping: 'sweeping blobs',
  rechecking: 're-checking candidates',
  deleting: 'deleting',
};

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function summary(r: GcReport): string {
  const temporary = r.temporaryFiles.length > 0 ? `, ${plural(r.temporaryFiles.length, 'temporary file')}` : '';
  const what = `${plural(r.manifestsRemoved.length, 'manifest')}, ${plural(r.blobsRemoved.length, 'blob')} (${formatBytes(r.bytesFreed)}, ${r.bytesFreed} bytes), ${plural(r.repositoriesRemoved.length, 'repository').replace('repositorys', 'repositories')}${temporary}`;
  const took = `${(r.durationMs / 1000).toFixed(2)} s`;
  if (r.dryRun) return `dry run, nothing changed: would remove ${what}; took ${took}`;
  const restored = r.restored > 0 ? `; ${r.restored} kept because a push referenced them meanwhile` : '';
  return `removed ${what}; ${plural(r.layerLinksRemoved, '_layers link')} removed${restored}; took ${took}`;
}

/** Runs the command; returns the exit code. */
export async function garbageCollectCommand(
  configPath: string | undefined,
  opts: GcCommandOptions,
  io: GcIo,
): Promise<number> {
  const fail = (message: string) => {
    io.err.write(`wharf garbage-collect: ${message}\n`);
    return 1;
  };
  const path = configPath ?? process.env.REGISTRY_CONFIGURATION_PATH;
  if (!path) return fail('a configuration file is required (argument, or REGISTRY_CONFIGURATION_PATH)');
  let loaded;
  try {
    loaded = loadConfig({ path });
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message);
    throw err;
  }
  const { config, warnings } = loaded;
  for (const w of warnings) io.err.write(`warning: config: ${w}\n`);
  let graceMs = config.gc.graceperiod;
  if (opts.grace !== undefined) {
    const ms = parseDuration(opts.grace);
    if (ms === null || ms < 0)
      return fail(`--grace: not a duration: ${JSON.stringify(opts.grace)} (use e.g. "0s", "30m", "1h")`);
    graceMs = ms;
  }
  if (opts.policies && opts.deleteUntagged)
    return fail(
      '--policies and --delete-untagged cannot be combined: with --policies the policies decide which untagged manifests go',
    );
  const storage = storageDriverOf(config);
  const { name } = storage;
  if (config.proxy) {
    const failed = await expiryRun(config, storage, opts.dryRun === true, io);
    if (failed) return fail(`expiry of cached content failed, nothing more was removed: ${failed}`);
  }
  if (opts.policies) return policiesRun(storage, config, { dryRun: opts.dryRun, graceMs }, io, fail);
  if (name === 'inmemory')
    io.err.write('warning: the inmemory driver keeps nothing between processes: there is nothing to collect\n');

  const tty = io.out.isTTY === true;
  let lastDraw = 0;
  const progress = tty
    ? (p: GcProgress) => {
        const now = Date.now();
        if (now - lastDraw < 100 && p.done !== p.total) return;
        lastDraw = now;
        io.out.write(`\r\x1b[K${PHASE_TEXT[p.phase]} ${p.done}/${p.total}`);
      }
    : undefined;

  let report: GcReport;
  const driver = await createDriver(storage);
  try {
    report = await garbageCollect(driver, {
      dryRun: opts.dryRun,
      deleteUntagged: opts.deleteUntagged,
      graceMs,
      progress,
    });
  } catch (err) {
    if (tty) io.out.write('\r\x1b[K');
    return fail(`failed, nothing more was removed: ${(err as Error).message}`);
  } finally {
    await driver.close?.();
  }
  if (tty) io.out.write('\r\x1b[K');
  printReport(report, io);
  return 0;
}

function printReport(report: GcReport, io: GcIo): void {
  const verb = report.dryRun ? 'would remove' : 'removed';
  for (const m of report.manifestsRemoved) io.out.write(`${verb} manifest ${m.repository}@${m.digest}\n`);
  for (const b of report.blobsRemoved) io.out.write(`${verb} blob ${b.digest} (${b.size} bytes)\n`);
  for (const r of report.repositoriesRemoved) io.out.write(`${verb} repository ${r}\n`);
  for (const t of report.temporaryFiles) io.out.write(`${verb} temporary file ${t} (an interrupted write)\n`);
  for (const w of report.warnings) io.err.write(`warning: ${w}\n`);
  io.out.write(`${summary(report)}\n`);
}

/**
 * A mirror's expiry before the collection (which then deletes the blobs only expired manifests referenced): the
 * tags and manifests due, in repositories of upstreams that answer now. Returns an error message, or null.
 */
async function expiryRun(
  config: Readonly<Config>,
  storage: DriverConfig,
  dryRun: boolean,
  io: GcIo,
): Promise<string | null> {
  const specs = upstreamsOf(config.proxy!);
  if (specs.every((s) => s.expireMs === null)) return null;
  const driver = await createDriver(storage);
  try {
    const r = await expireOffline(offlineRegistry(driver), specs, { dryRun });
    for (const label of r.down)
      io.err.write(
        `warning: upstream ${label} does not answer: its cached content is kept (it may be the only copy within reach)\n`,
      );
    const verb = dryRun ? 'would expire' : 'expired';
    for (const t of r.tags) io.out.write(`${verb} cached tag ${t}\n`);
    for (const m of r.manifests) io.out.write(`${verb} cached manifest ${m}\n`);
    if (dryRun && r.manifests.length > 0)
      io.out.write('(the blobs only those manifests reference are not counted below: they go on a real run)\n');
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await driver.close?.();
  }
}

/** `--policies`: the cleanup run of src/policies/cleanup.ts once; with --dry-run its plan. */
async function policiesRun(
  storage: DriverConfig,
  config: Config,
  opts: { dryRun?: boolean; graceMs: number },
  io: GcIo,
  fail: (m: string) => number,
): Promise<number> {
  if (config.policies.length === 0) io.err.write('warning: no policies are configured: only garbage collection runs\n');
  const driver = await createDriver(storage);
  // The run's `delete` events go to the configured endpoints, as a scheduled run's do (problems logged to stderr).
  const events = opts.dryRun
    ? undefined
    : new Notifier(config.notifications, {
        log: createLogger({ level: 'warn', formatter: 'text', destination: io.err }),
        httpAddr: config.http.addr,
      });
  try {
    const report = await runCleanup(
      { registry: offlineRegistry(driver), policies: new PolicySet(config.policies), events },
      { graceMs: opts.graceMs, dryRun: opts.dryRun },
    );
    if (!report.gc) {
      io.out.write(
        `${formatPlan(report.plan, { untag: 'would untag', del: 'would delete', free: 'would free' }).join('\n')}\n`,
      );
      io.out.write('dry run, nothing changed\n');
      return 0;
    }
    for (const t of report.untagged) io.out.write(`untagged ${t.repository}:${t.tag} ${t.digest}\n`);
    for (const t of report.skipped) io.out.write(`kept ${t.repository}:${t.tag} (pushed again since the plan)\n`);
    printReport(report.gc, io);
    if (events?.enabled && !(await deliveredWithin(events, EVENTS_WAIT_MS))) {
      io.err.write(
        `warning: notifications: not every delete event was delivered within ${EVENTS_WAIT_MS / 1000} s; the rest are dropped\n`,
      );
    }
    return 0;
  } catch (err) {
    return fail(`failed, nothing more was removed: ${(err as Error).message}`);
  } finally {
    events?.close();
    await driver.close?.();
  }
}

/** How long the command waits for its events to reach the endpoints before it exits. */
const EVENTS_WAIT_MS = 15_000;

async function deliveredWithin(events: Notifier, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([events.drained().then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
