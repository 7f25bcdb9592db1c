/**
 * The driver registry: a new driver is one file plus one line here. Drivers are imported when configured: the S3
 * SDK alone is about 20 MiB of a process's memory.
 */
import { checked } from './checked.js';
import type { StorageDriver } from './driver.js';
import type { S3Options } from './s3.js';

type Factory = (params: Record<string, unknown>) => Promise<StorageDriver>;

export const DRIVERS: Record<string, Factory> = {
  filesystem: async (p) => new (await import('./filesystem.js')).FilesystemDriver({ rootdirectory: String(p.rootdirectory ?? '/var/lib/registry'), fsync: p.fsync === true }),
  inmemory: async () => new (await import('./inmemory.js')).InMemoryDriver(),
  s3: async (p) => new (await import('./s3.js')).S3Driver(p as unknown as S3Options),
};

export async function createDriver(name: string, params: Record<string, unknown>): Promise<StorageDriver> {
  const factory = DRIVERS[name];
  if (!factory) throw new Error(`storage driver ${JSON.stringify(name)} is not supported yet`);
  return checked(await factory(params));
}
