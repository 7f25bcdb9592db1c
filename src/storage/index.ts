/** The driver registry: a new driver is one file plus one line here. */
import { checked } from './checked.js';
import type { StorageDriver } from './driver.js';
import { FilesystemDriver } from './filesystem.js';
import { InMemoryDriver } from './inmemory.js';
import { S3Driver, type S3Options } from './s3.js';

type Factory = (params: Record<string, unknown>) => StorageDriver;

export const DRIVERS: Record<string, Factory> = {
  filesystem: (p) => new FilesystemDriver({ rootdirectory: String(p.rootdirectory ?? '/var/lib/registry'), fsync: p.fsync === true }),
  inmemory: () => new InMemoryDriver(),
  s3: (p) => new S3Driver(p as unknown as S3Options),
};

export function createDriver(name: string, params: Record<string, unknown>): StorageDriver {
  const factory = DRIVERS[name];
  if (!factory) throw new Error(`storage driver ${JSON.stringify(name)} is not supported yet`);
  return checked(factory(params));
}
