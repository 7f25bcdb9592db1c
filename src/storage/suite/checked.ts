/** The shared driver suite: what checked() refuses and passes through. */
import assert from 'node:assert/strict';
import { checked } from '../checked.js';
import { InvalidPathError, type StorageDriver } from '../driver.js';
import { chunks, type DefineTest } from './kit.js';

/** Paths `checked()` must refuse for every method. */
const INVALID_PATHS = [
  '',
  'a',
  'a/b',
  './a',
  '/a/',
  '/a/b/',
  '//a',
  '/a//b',
  '/.',
  '/..',
  '/a/.',
  '/a/..',
  '/a/./b',
  '/a/../b',
  '/../a',
  '/a b',
  '/a\tb',
  '/a\nb',
  '/a\u0000b',
  '/a\\b',
  '/a:b',
  '/a?b',
  '/a*b',
  '/a%2fb',
  '/~a',
  '/é',
  '/a/b\n',
];

export function checkedTests(test: DefineTest): void {
  // checked()

  function spy(raw: StorageDriver): { driver: StorageDriver; calls: string[] } {
    const calls: string[] = [];
    const driver = new Proxy(raw, {
      get(target, key) {
        const v = Reflect.get(target, key) as unknown;
        if (typeof v !== 'function' || key === 'close') return v;
        return (...args: unknown[]) => {
          calls.push(String(key));
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    return { driver, calls };
  }

  type Call = (d: StorageDriver, p: string) => Promise<unknown>;
  const CALLS: Record<string, Call> = {
    getContent: (d, p) => d.getContent(p),
    putContent: (d, p) => d.putContent(p, Buffer.from('x')),
    reader: (d, p) => d.reader(p),
    append: (d, p) => d.append(p, chunks(Buffer.from('x'))),
    stat: (d, p) => d.stat(p),
    list: (d, p) => d.list(p),
    'move (source)': (d, p) => d.move(p, '/ok'),
    'move (destination)': (d, p) => d.move('/ok', p),
    delete: (d, p) => d.delete(p),
    redirectURL: (d, p) => d.redirectURL('GET', p),
  };

  /** Calls through `checked()` and returns the rejection; a synchronous throw counts as a failure. */
  async function rejection(call: () => Promise<unknown>): Promise<unknown> {
    let promise: Promise<unknown>;
    try {
      promise = call();
    } catch (err) {
      assert.fail(`threw synchronously instead of rejecting: ${String(err)}`);
    }
    try {
      await promise;
    } catch (err) {
      return err;
    }
    return undefined;
  }

  test('checked() refuses invalid paths before the driver sees them', async ({ raw }) => {
    const { driver, calls } = spy(raw);
    const d = checked(driver);
    for (const p of INVALID_PATHS) {
      for (const [method, call] of Object.entries(CALLS)) {
        const err = await rejection(() => call(d, p));
        assert.ok(err instanceof InvalidPathError, `${method}(${JSON.stringify(p)}) gave ${String(err)}`);
        assert.equal(err.path, p);
      }
    }
    assert.deepEqual(calls, []);
  });

  test('checked() refuses delete of the root', async ({ raw }) => {
    const { driver, calls } = spy(raw);
    await raw.putContent('/keep', Buffer.from('1'));
    const err = await rejection(() => checked(driver).delete('/'));
    assert.ok(err instanceof InvalidPathError, String(err));
    assert.deepEqual(calls, []);
    assert.equal((await raw.getContent('/keep')).toString(), '1');
  });

  test('checked() allows the root only where Distribution does: list and stat', async ({ raw }) => {
    const { driver, calls } = spy(raw);
    const d = checked(driver);
    await raw.putContent('/keep', Buffer.from('1'));
    for (const method of [
      'getContent',
      'putContent',
      'reader',
      'append',
      'move (source)',
      'move (destination)',
      'redirectURL',
    ]) {
      const err = await rejection(() => CALLS[method](d, '/'));
      assert.ok(err instanceof InvalidPathError, `${method}('/') gave ${String(err)}`);
    }
    assert.deepEqual(calls, []);
    assert.deepEqual(await d.list('/'), ['/keep']);
    assert.equal((await d.stat('/')).isDir, true);
  });

  test('checked() passes valid paths through unchanged', async ({ raw }) => {
    const { driver, calls } = spy(raw);
    const d = checked(driver);
    const p = '/docker/registry/v2/repositories/a-b_c.d/_manifests/tags/V1.0_rc-1/current/link';
    await d.putContent(p, Buffer.from('sha256:abc'));
    assert.equal((await d.getContent(p)).toString(), 'sha256:abc');
    await d.putContent('/...', Buffer.from('dots'));
    assert.equal((await d.getContent('/...')).toString(), 'dots', 'a component of three dots is a name');
    assert.deepEqual(calls, ['putContent', 'getContent', 'putContent', 'getContent']);
  });
}
