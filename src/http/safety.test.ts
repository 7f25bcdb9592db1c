import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));

/** Runs a child that installs the guard (or not, with WHARF_PROCESS_GUARD=off) and then throws outside any request. */
function run(guard: 'on' | 'off'): { code: number; out: string } {
  const script = `
import pino from 'pino';
import { installProcessGuard } from '${dir}safety.js';
installProcessGuard(pino({ level: 'info' }, process.stdout));
setTimeout(() => { throw new Error('a bug outside any request'); }, 10);
setTimeout(() => Promise.reject(new Error('an unhandled rejection')), 20);
setTimeout(() => { console.log('still alive'); }, 60);
`;
  try {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      cwd: dir,
      env: { ...process.env, WHARF_PROCESS_GUARD: guard },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, out };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, out: e.stdout + e.stderr };
  }
}

test('the process guard logs an escaped error with its stack and keeps the process alive', () => {
  const r = run('on');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /a bug outside any request/);
  assert.match(r.out, /"stack":"Error: a bug outside any request\\n\s+at /);
  assert.match(r.out, /an unhandled rejection/);
  assert.match(r.out, /still alive/);
});

test('WHARF_PROCESS_GUARD=off leaves Node to end the process (as the e2e tests run it)', () => {
  const r = run('off');
  assert.notEqual(r.code, 0);
  assert.doesNotMatch(r.out, /still alive/);
});
