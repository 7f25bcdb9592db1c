/**
 * The driver registry: a new driver is one file plus one line here. Drivers are imported when configured: the S3
 * SDK alone is about 20 MiB of a process's memory. Each factory gets its config section as the schema typed and
 * defaulted it (src/config/schema.ts): no defaults are restated here.
 */
import type { DriverConfig } from '../config/load.js';
import { checked } from './checked.js';
import type { StorageDriver } from './driver.js';

type Factories = {
  [K in DriverConfig['name']]?: (params: Extract<DriverConfig, { name: K }>['params']) => Promise<StorageDriver>;
};

export const DRIVERS: Factories = {
  filesystem: async (p) => new (await import('./filesystem.js')).FilesystemDriver(p),
  inmemory: async () => new (await import('./inmemory.js')).InMemoryDriver(),
  s3: async (p) => new (await import('./s3.js')).S3Driver(p),
};

export async function createDriver(d: DriverConfig): Promise<StorageDriver> {
  // TypeScript cannot correlate d.name with d.params across the union: DRIVERS' type ties each factory to its own.
  const factory = DRIVERS[d.name] as ((params: DriverConfig['params']) => Promise<StorageDriver>) | undefined;
  if (!factory) throw new Error(`storage driver ${JSON.stringify(d.name)} is not supported yet`);
  return checked(await factory(d.params));
}
