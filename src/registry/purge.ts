/**
 * Upload purging (`storage.maintenance.uploadpurging`): removes upload sessions started more than `age` ago.
 * Sessions are found by walking `repositories/` for `_uploads/<uuid>/startedat`; a session without a readable
 * `startedat` is judged by its directory's modification time.
 */
import type { Logger } from 'pino';
import { isNotFound, type StorageDriver } from '../storage/driver.js';
import { basename, REPOSITORIES } from './paths.js';

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
  async function list(dir: string): Promise<string[]> {
    try {
      return await driver.list(dir);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }
  async function startedAt(dir: string): Promise<Date | null> {
    try {
      const d = new Date((await driver.getContent(`${dir}/startedat`)).toString('utf8').trim());
      if (!Number.isNaN(d.getTime())) return d;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      return (await driver.stat(dir)).modTime;
    } catch {
      return null;
    }
  }
  async function walk(dir: string): Promise<void> {
    for (const entry of await list(dir)) {
      const name = basename(entry);
      if (name === '_uploads') {
        for (const session of await list(entry)) {
          const t = await startedAt(session);
          if (t && t < opts.olderThan) {
            result.purged.push(session);
            if (!opts.dryRun) {
              await driver.delete(session).catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
              opts.onPurged?.(basename(session));
            }
          } else {
            result.kept++;
          }
        }
      } else if (!name.startsWith('_')) {
        await walk(entry);
      }
    }
  }
  await walk(REPOSITORIES);
  if (result.purged.length > 0) log.info({ purged: result.purged.length, kept: result.kept, dryRun: opts.dryRun }, opts.dryRun ? 'upload purging (dry run): would remove abandoned uploads' : 'upload purging: removed abandoned uploads');
  return result;
}

/** Runs purging every `interval`, the first run after a random delay up to 30 minutes as Distribution does (shorter in tests). */
export function schedulePurging(driver: StorageDriver, opts: { ageMs: number; intervalMs: number; dryRun: boolean; firstDelayMs: number; onPurged?: (uuid: string) => void }, log: Logger): () => void {
  let timer: NodeJS.Timeout;
  const run = async () => {
    try {
      await purgeUploads(driver, { olderThan: new Date(Date.now() - opts.ageMs), dryRun: opts.dryRun, onPurged: opts.onPurged }, log);
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
