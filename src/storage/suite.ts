/**
 * The shared storage driver suite: every driver registers it from its own test file and must pass every test
 * here, or skip one with a written reason. Each test gets a fresh driver, wrapped in `checked()` as production
 * wraps it; afterwards the suite deletes what is left through the driver and calls `cleanup()`, which for a
 * persistent driver verifies that nothing remains on disk. The tests themselves are in suite/, by operation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checked } from './checked.js';
import { PathNotFoundError, type StorageDriver } from './driver.js';
import { appendTests } from './suite/append.js';
import { checkedTests } from './suite/checked.js';
import { contentTests } from './suite/content.js';
import type { Ctx } from './suite/kit.js';
import { treeTests } from './suite/tree.js';

export interface DriverUnderTest {
  driver: StorageDriver;
  /** Releases the driver's backing store; throws when a test left something behind. */
  cleanup(): Promise<void>;
}

export interface DriverSuiteOptions {
  name: string;
  newDriver: () => Promise<DriverUnderTest>;
  /** Tests this driver does not run, each group with the reason why. Unknown test names are an error. */
  skip?: Array<{ reason: string; tests: string[] }>;
}

export function runDriverSuite(opts: DriverSuiteOptions): void {
  const skipped = new Map<string, string>();
  for (const group of opts.skip ?? []) {
    assert.ok(group.reason.trim() !== '', `${opts.name}: every skip needs a reason`);
    for (const t of group.tests) skipped.set(t, group.reason);
  }
  const defined = new Set<string>();

  describe(`storage driver suite: ${opts.name}`, () => {
    const test = (name: string, fn: (ctx: Ctx) => Promise<void>, timeout = 30_000): void => {
      assert.ok(!defined.has(name), `duplicate test name ${name}`);
      defined.add(name);
      const reason = skipped.get(name);
      it(name, { skip: reason ?? false, timeout }, async () => {
        const { driver, cleanup } = await opts.newDriver();
        const ctx: Ctx = { d: checked(driver), raw: driver };
        let failure: unknown;
        try {
          await fn(ctx);
        } catch (err) {
          failure = err;
        }
        // Leave nothing behind: delete through the driver, then let the harness verify its store is empty.
        try {
          let left: string[] = [];
          try {
            left = await ctx.d.list('/');
          } catch (err) {
            if (!(err instanceof PathNotFoundError)) throw err;
          }
          for (const p of left) await ctx.d.delete(p);
          await cleanup();
          await driver.close?.();
        } catch (err) {
          if (failure === undefined) failure = err;
        }
        if (failure !== undefined) throw failure;
      });
    };

    contentTests(test);
    appendTests(test);
    treeTests(test);
    checkedTests(test);

    if (opts.skip) {
      for (const name of skipped.keys())
        assert.ok(defined.has(name), `${opts.name}: skip names an unknown test: ${name}`);
    }
  });
}
