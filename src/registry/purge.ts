/**
 * Upload purging (`storage.maintenance.uploadpurging`): removes upload sessions started more than `age` ago.
 * Sessions are found by walking `repositories/` for `_uploads/<uuid>/startedat`; a session without a readable
 * `startedat` is judged by its directory's modification time.
 */
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage/driver.js';
import { contentOrNull, ignoreNotFound, listOrEmpty } from '../storage/notfound.js';
import { basename } from './paths.js';
import { joinName, treePath, walkTree } from './walk.js';

export interface PurgeResult {
  purged: string[];
  kept: number;
}

export interface PurgeOptions {
  olderThan: Date;
  dryRun: boolean;
  /** Called with the uuid of each session removed, so that the process drops what it holds for it. */
  onPurged?: (uuid: string) => void;
}

export async function purgeUploads(driver: StorageDriver, opts: PurgeOptions, log: Logger): Promise<PurgeResult> {
  const result: PurgeResult = { purged: [], kept: 0 };
  async function startedAt(dir: string): Promise<Date | null> {
    const text = await contentOrNull(driver, `${dir}/startedat`);
    const d = text && new Date(text.toString('utf8').trim());
    if (d && !Number.isNaN(d.getTime())) return d;
    return driver.stat(dir).then(
      (st) => st.modTime,
      () => null,
    );
  }
  async function purgeSessions(uploads: string): Promise<void> {
    for (const session of await listOrEmpty(driver, uploads)) {
      const t = await startedAt(session);
      if (t && t < opts.olderThan) {
        result.purged.push(session);
        if (!opts.dryRun) {
          await ignoreNotFound(driver.delete(session));
          opts.onPurged?.(basename(session));
        }
      } else {
        result.kept++;
      }
    }
  }
  await walkTree([''], async (prefix) => {
    const names = (await listOrEmpty(driver, treePath(prefix))).map(basename);
    if (names.includes('_uploads')) await purgeSessions(`${treePath(prefix)}/_uploads`);
    return names.filter((n) => !n.startsWith('_')).map((n) => joinName(prefix, n));
  });
  if (result.purged.length > 0)
    log.info(
      { purged: result.purged.length, kept: result.kept, dryRun: opts.dryRun },
      opts.dryRun
        ? 'upload purging (dry run): would remove abandoned uploads'
        : 'upload purging: removed abandoned uploads',
    );
  return result;
}

/** Runs purging every `interval`, the first run after a random delay up to 30 minutes as Distribution does (shorter in tests). */
export function schedulePurging(
  driver: StorageDriver,
  opts: { ageMs: number; intervalMs: number; dryRun: boolean; firstDelayMs: number; onPurged?: (uuid: string) => void },
  log: Logger,
): () => void {
  let timer: NodeJS.Timeout;
  const run = async () => {
    try {
      await purgeUploads(
        driver,
        { olderThan: new Date(Date.now() - opts.ageMs), dryRun: opts.dryRun, onPurged: opts.onPurged },
        log,
      );
    } catch (err) {
      log.error({ err: (err as Error).message }, 'upload purging failed');
    }
    timer = setTimeout(run, opts.intervalMs);
    timer.unref();
  };
  timer = setTimeout(run, opts.firstDelayMs);
  timer.unref();
  return () => clearTimeout(timer);
}
