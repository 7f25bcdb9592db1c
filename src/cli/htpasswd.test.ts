import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { editHtpasswd } from '../auth/htpasswdfile.js';
import { DEFAULT_COST, EXIT, parseHtpasswdArgs, runHtpasswd, terminalPrompt, type PasswordPrompt } from './htpasswd.js';

const dir = mkdtempSync(join(tmpdir(), 'wharf-htpasswd-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
/** Well-formed bcrypt hashes in the form Apache writes, for lines that are not under test. */
const H1 = `$2y$${bcrypt.hashSync('one', 4).slice(4)}`;
const H2 = `$2y$${bcrypt.hashSync('two', 4).slice(4)}`;
/** A fresh path in the test directory; `content` creates the file. */
function file(content?: string): string {
  const p = join(dir, `htpasswd-${++n}`);
  if (content !== undefined) writeFileSync(p, content);
  return p;
}

interface Run {
  code: number;
  out: string;
  err: string;
  /** Questions the prompt was asked. */
  asked: string[];
}

/** Runs the command in process; `answers` feed the terminal prompt (null: Ctrl-C), absent = no terminal. */
async function wharf(argv: string[], opts: { stdin?: string; answers?: Array<string | null> } = {}): Promise<Run> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const asked: string[] = [];
  const answers = [...(opts.answers ?? [])];
  const prompt: PasswordPrompt = {
    isTTY: opts.answers !== undefined,
    async readHidden(q) {
      asked.push(q);
      assert.ok(answers.length > 0, `unexpected question ${q}`);
      return answers.shift() as string | null;
    },
  };
  const code = await runHtpasswd(argv, {
    stdin: Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]),
    stdout,
    stderr,
    prompt,
  });
  return { code, out, err, asked };
}

function hashOf(text: string, user: string): string {
  const line = text.split('\n').find((l) => l.startsWith(`${user}:`));
  assert.ok(line, `no line for ${user} in ${JSON.stringify(text)}`);
  return line.slice(user.length + 1);
}

describe('argument parsing', () => {
  test("Apache's combined flags and argument forms", () => {
    assert.deepEqual(parseHtpasswdArgs(['-Bbc', 'f', 'u', 'p']), {
      mode: 'create',
      source: 'argument',
      cost: DEFAULT_COST,
      file: 'f',
      user: 'u',
      password: 'p',
    });
    assert.deepEqual(parseHtpasswdArgs(['-c', '-B', '-b', 'f', 'u', 'p']), parseHtpasswdArgs(['-Bbc', 'f', 'u', 'p']));
    assert.deepEqual(parseHtpasswdArgs(['-Bbn', 'u', 'p']), {
      mode: 'print',
      source: 'argument',
      cost: DEFAULT_COST,
      file: undefined,
      user: 'u',
      password: 'p',
    });
    assert.deepEqual(parseHtpasswdArgs(['f', 'u']), {
      mode: 'update',
      source: 'prompt',
      cost: DEFAULT_COST,
      file: 'f',
      user: 'u',
      password: undefined,
    });
    assert.equal((parseHtpasswdArgs(['-i', 'f', 'u']) as { source: string }).source, 'stdin');
    assert.equal((parseHtpasswdArgs(['-D', 'f', 'u']) as { mode: string }).mode, 'delete');
    assert.equal((parseHtpasswdArgs(['-vb', 'f', 'u', 'p']) as { mode: string }).mode, 'verify');
    for (const argv of [
      ['-BC', '10', 'f', 'u'],
      ['-BC10', 'f', 'u'],
      ['-C', '10', '-B', 'f', 'u'],
      ['-bBC10', 'f', 'u', 'p'],
    ]) {
      assert.equal((parseHtpasswdArgs(argv) as { cost: number }).cost, 10, argv.join(' '));
    }
    // `--` ends the options: a file or user may begin with '-'.
    assert.deepEqual(parseHtpasswdArgs(['-b', '--', '-f', '-u', '-p']), {
      mode: 'update',
      source: 'argument',
      cost: DEFAULT_COST,
      file: '-f',
      user: '-u',
      password: '-p',
    });
    assert.equal(parseHtpasswdArgs(['-h']), 'help');
    assert.equal(parseHtpasswdArgs(['--help']), 'help');
    assert.equal(parseHtpasswdArgs(['-Bh', 'f']), 'help');
  });

  test('refusals exit with Apache statuses and say why', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['-m', 'f', 'u'], EXIT.syntax, /-m \(MD5\) is not supported: only bcrypt/],
      [['-bd', 'f', 'u', 'p'], EXIT.syntax, /-d \(crypt\) is not supported/],
      [['-s', 'f', 'u'], EXIT.syntax, /-s \(SHA-1\) is not supported/],
      [['-p', 'f', 'u'], EXIT.syntax, /-p \(plain text\) is not supported/],
      [['-2', 'f', 'u'], EXIT.syntax, /-2 \(SHA-256 crypt\)/],
      [['-5', 'f', 'u'], EXIT.syntax, /-5 \(SHA-512 crypt\)/],
      [['-r', '5000', 'f', 'u'], EXIT.syntax, /-r .* only bcrypt/],
      [['-BC', '3', 'f', 'u'], EXIT.syntax, /cost must be from 4 to 17, not 3/],
      [['-BC18', 'f', 'u'], EXIT.syntax, /cost must be from 4 to 17, not 18/],
      [['-C', 'ten', 'f', 'u'], EXIT.syntax, /positive integer/],
      [['-C'], EXIT.syntax, /-C requires an argument/],
      [['-cn', 'u'], EXIT.syntax, /only one of -c -n -v -D/],
      [['-Dv', 'f', 'u'], EXIT.syntax, /only one of -c -n -v -D/],
      [['-bi', 'f', 'u', 'p'], EXIT.syntax, /-b and -i cannot be combined/],
      [['-x', 'f', 'u'], EXIT.syntax, /unknown option -x/],
      [['--force', 'f', 'u'], EXIT.syntax, /unknown option --force/],
      [[], EXIT.syntax, /missing passwordfile and username/],
      [['-b', 'f', 'u'], EXIT.syntax, /missing password/],
      [['f', 'u', 'extra'], EXIT.syntax, /unexpected argument "extra"/],
      [['-b', 'f', 'a:b', 'p'], EXIT.badUser, /illegal character ':'/],
      [['-b', 'f', '', 'p'], EXIT.badUser, /must not be empty/],
      [['-b', 'f', ' alice', 'p'], EXIT.badUser, /whitespace/],
      [['-b', 'f', '#alice', 'p'], EXIT.badUser, /comment/],
      [['-b', 'f', 'al\nice', 'p'], EXIT.badUser, /control character/],
      [['-b', 'f', 'u'.repeat(256), 'p'], EXIT.overflow, /username too long/],
      [['-b', 'f', 'u', 'p'.repeat(256)], EXIT.overflow, /password too long/],
    ];
    for (const [argv, code, message] of cases) {
      const r = await wharf(argv);
      assert.equal(r.code, code, `${JSON.stringify(argv)}: ${r.err}`);
      assert.match(r.err, message, JSON.stringify(argv));
      assert.match(r.err, /^wharf htpasswd: /);
      assert.equal(r.out, '');
    }
    // Mistakes in the shape of the command line are followed by the usage.
    assert.match((await wharf(['-x', 'f', 'u'])).err, /Usage:\n {2}wharf htpasswd /);
  });

  test('-h prints the usage and the options on stdout', async () => {
    const r = await wharf(['-h']);
    assert.equal(r.code, 0);
    assert.match(r.out, /^Usage:\n {2}wharf htpasswd \[-ciBDv\] \[-C cost\] passwordfile username\n/);
    for (const flag of ['-c', '-n', '-b', '-i', '-B', '-C', '-D', '-v'])
      assert.match(r.out, new RegExp(`^ ${flag} `, 'm'), flag);
    assert.match(r.out, /Exit status: 0/);
  });
});

describe('writing files', () => {
  test('-Bbc creates a 0600 file with a $2y$ bcrypt line of the default cost', async () => {
    const f = file();
    const r = await wharf(['-Bbc', f, 'alice', 's3cret']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, 'Adding password for user alice\n');
    const text = readFileSync(f, 'utf8');
    assert.match(text, /^alice:\$2y\$05\$[./A-Za-z0-9]{53}\n$/);
    assert.ok(await bcrypt.compare('s3cret', hashOf(text, 'alice')));
    assert.equal(statSync(f).mode & 0o777, 0o600);
  });

  test('-c truncates an existing file but keeps its mode; -C sets the cost', async () => {
    const f = file(`old:${H1}\n`);
    chmodSync(f, 0o640);
    assert.equal((await wharf(['-cbC', '6', f, 'alice', 'pw'])).code, 0);
    const text = readFileSync(f, 'utf8');
    assert.match(text, /^alice:\$2y\$06\$/);
    assert.doesNotMatch(text, /old:/);
    assert.equal(statSync(f).mode & 0o777, 0o640);
  });

  test('adding and updating keep comments, blank lines, other users, their order and the mode', async () => {
    const original = `# registry users\nbob:${H1}\n\n# ops\ncarol:${H2}\n`;
    const f = file(original);
    chmodSync(f, 0o644);
    const add = await wharf(['-b', f, 'alice', 'one']);
    assert.equal(add.code, 0);
    assert.equal(add.err, 'Adding password for user alice\n');
    const added = readFileSync(f, 'utf8');
    assert.ok(added.startsWith(original));
    assert.match(added.slice(original.length), /^alice:\$2y\$05\$.{53}\n$/);

    const upd = await wharf(['-b', f, 'bob', 'two']);
    assert.equal(upd.code, 0);
    assert.equal(upd.err, 'Updating password for user bob\n');
    const updated = readFileSync(f, 'utf8').split('\n');
    assert.deepEqual(
      updated.map((l) => l.split(':')[0]),
      ['# registry users', 'bob', '', '# ops', 'carol', 'alice', ''],
    );
    assert.ok(await bcrypt.compare('two', updated[1].slice(4)));
    assert.equal(updated[4], original.split('\n')[4], 'carol is untouched');
    assert.equal(statSync(f).mode & 0o777, 0o644);
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.endsWith('.tmp')),
      [],
      'no temp file is left behind',
    );
  });

  test('a user listed twice ends with one entry, in the place of the first', async () => {
    const f = file(`alice:${H1}\nbob:x\n  alice:${H2}\n`);
    assert.equal((await wharf(['-b', f, 'alice', 'pw'])).code, 0);
    const lines = readFileSync(f, 'utf8').split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^alice:\$2y\$05\$/);
    assert.equal(lines[1], 'bob:x');
  });

  test('entries the registry will refuse are named in a warning', async () => {
    const f = file('old:$apr1$abc$def\n');
    const r = await wharf(['-b', f, 'alice', 'pw']);
    assert.equal(r.code, 0);
    assert.match(r.err, /Warning: line 1 \(user old\): uses an MD5 \(\$apr1\$\) hash; only bcrypt is accepted/);
  });

  test('CRLF files stay CRLF and a missing final newline is added', () => {
    assert.deepEqual(editHtpasswd('# c\r\nbob:x\r\n', 'alice', 'h'), {
      text: '# c\r\nbob:x\r\nalice:h\r\n',
      found: false,
    });
    assert.deepEqual(editHtpasswd('bob:x\r\nalice:old\r\n', 'alice', 'h'), {
      text: 'bob:x\r\nalice:h\r\n',
      found: true,
    });
    assert.deepEqual(editHtpasswd('bob:x', 'alice', 'h'), { text: 'bob:x\nalice:h\n', found: false });
    assert.deepEqual(editHtpasswd('', 'alice', 'h'), { text: 'alice:h\n', found: false });
    assert.deepEqual(editHtpasswd('alice:h\n', 'alice', null), { text: '', found: true });
  });

  test('a symlinked file is updated through the link, which stays a link', async () => {
    const target = file('bob:x\n');
    const link = join(dir, `link-${++n}`);
    symlinkSync(target, link);
    assert.equal((await wharf(['-b', link, 'alice', 'pw'])).code, 0);
    assert.ok(statSync(link).isFile());
    assert.match(readFileSync(target, 'utf8'), /^bob:x\nalice:\$2y\$/);
  });

  test(
    'an update keeps the owner of a file that belongs to someone else',
    { skip: process.getuid?.() === 0 ? false : 'only root can give a file to another user' },
    async () => {
      const f = file(`bob:${H1}\n`);
      chownSync(f, 4242, 4343);
      assert.equal((await wharf(['-b', f, 'alice', 'pw'])).code, 0);
      const st = statSync(f);
      assert.deepEqual([st.uid, st.gid], [4242, 4343]);
    },
  );

  test('a missing file without -c, a missing directory and a file that is not an htpasswd file are refused', async () => {
    const missing = file();
    const r = await wharf(['-b', missing, 'alice', 'pw']);
    assert.equal(r.code, EXIT.file);
    assert.match(r.err, /cannot modify file .*; use '-c' to create it/);

    const r2 = await wharf(['-cb', join(dir, 'no-such-dir', 'htpasswd'), 'alice', 'pw']);
    assert.equal(r2.code, EXIT.file);
    assert.match(r2.err, /cannot create file .*no-such-dir.* is not a directory/);

    const yaml = 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nlog level\n';
    const f = file(yaml);
    const r3 = await wharf(['-b', f, 'alice', 'pw']);
    assert.equal(r3.code, EXIT.invalid);
    assert.match(r3.err, /does not appear to be a valid htpasswd file \(line 5\); it is left unchanged/);
    assert.equal(readFileSync(f, 'utf8'), yaml);
  });

  test('-n prints the record on stdout and writes no file', async () => {
    const r = await wharf(['-nbC', '4', 'alice', 'pw']);
    assert.equal(r.code, 0);
    assert.equal(r.err, '');
    assert.match(r.out, /^alice:\$2y\$04\$[./A-Za-z0-9]{53}\n$/);
    assert.ok(await bcrypt.compare('pw', r.out.trim().slice(6)));
  });
});

describe('passwords from stdin and the terminal', () => {
  test('-i reads one line, without its line break (LF or CRLF)', async () => {
    const f = file('');
    assert.equal((await wharf(['-i', f, 'alice'], { stdin: 'from stdin\n' })).code, 0);
    assert.ok(await bcrypt.compare('from stdin', hashOf(readFileSync(f, 'utf8'), 'alice')));
    assert.equal((await wharf(['-i', f, 'bob'], { stdin: 'crlf\r\n' })).code, 0);
    assert.ok(await bcrypt.compare('crlf', hashOf(readFileSync(f, 'utf8'), 'bob')));
    assert.equal((await wharf(['-i', f, 'carol'], { stdin: 'no newline' })).code, 0);
    assert.ok(await bcrypt.compare('no newline', hashOf(readFileSync(f, 'utf8'), 'carol')));

    const two = await wharf(['-i', f, 'dave'], { stdin: 'one\ntwo\n' });
    assert.equal(two.code, EXIT.syntax);
    assert.match(two.err, /more than one line/);
  });

  test('the prompt asks twice, like Apache, and a mismatch exits 3 without touching the file', async () => {
    const f = file('bob:x\n');
    const ok = await wharf([f, 'alice'], { answers: ['typed', 'typed'] });
    assert.equal(ok.code, 0, ok.err);
    assert.deepEqual(ok.asked, ['New password: ', 'Re-type new password: ']);
    assert.ok(await bcrypt.compare('typed', hashOf(readFileSync(f, 'utf8'), 'alice')));

    const before = readFileSync(f, 'utf8');
    const bad = await wharf([f, 'alice'], { answers: ['one', 'two'] });
    assert.equal(bad.code, EXIT.mismatch);
    assert.equal(bad.err, 'wharf htpasswd: password verification error\n');
    assert.equal(readFileSync(f, 'utf8'), before);
  });

  test('Ctrl-C at the prompt exits 4; without a terminal the prompt is refused with a hint', async () => {
    const f = file('');
    const intr = await wharf([f, 'alice'], { answers: [null] });
    assert.equal(intr.code, EXIT.interrupted);
    const noTty = await wharf(['-c', f, 'alice']);
    assert.equal(noTty.code, EXIT.syntax);
    assert.match(noTty.err, /stdin is not a terminal; use -i .* or -b/);
  });

  test('the terminal prompt reads raw keys: backspace, Ctrl-U, answers typed ahead, Ctrl-C', async () => {
    const input = new PassThrough() as unknown as NodeJS.ReadStream & PassThrough;
    const modes: boolean[] = [];
    Object.assign(input, { isTTY: true, setRawMode: (on: boolean) => (modes.push(on), input) });
    const output = new PassThrough();
    let shown = '';
    output.on('data', (d) => (shown += d));
    const prompt = terminalPrompt(input, output);
    assert.equal(prompt.isTTY, true);

    const first = prompt.readHidden('New password: ');
    input.write('pa');
    input.write('sx\x7fs\r');
    assert.equal(await first, 'pass');
    // Both answers in one chunk: the second waits for the next question.
    const second = prompt.readHidden('Re-type: ');
    input.write('junk\x15again\r\nnext\n');
    assert.equal(await second, 'again');
    assert.equal(await prompt.readHidden('Third: '), 'next');
    const interrupted = prompt.readHidden('Fourth: ');
    input.write('abc\x03');
    assert.equal(await interrupted, null);

    assert.equal(shown, 'New password: \nRe-type: \nThird: \nFourth: \n', 'nothing typed is echoed');
    assert.deepEqual(modes, [true, false, true, false, true, false, true, false]);
  });
});

describe('delete and verify', () => {
  test('-D removes the user and keeps the rest; a missing user is reported with status 0, as Apache does', async () => {
    const f = file(`# c\nalice:${H1}\nbob:${H2}\n`);
    const r = await wharf(['-D', f, 'alice']);
    assert.equal(r.code, 0);
    assert.equal(r.err, 'Deleting password for user alice\n');
    assert.equal(readFileSync(f, 'utf8'), `# c\nbob:${H2}\n`);
    const again = await wharf(['-D', f, 'alice']);
    assert.equal(again.code, 0);
    assert.equal(again.err, 'User alice not found\n');
  });

  test('-v: correct 0, wrong 3, unknown user 6, non-bcrypt hash 7; the file is never written', async () => {
    const hash = `$2y$${(await bcrypt.hash('right', 4)).slice(4)}`;
    const f = file(`alice:${hash}\nold:$apr1$abc$def\n`);
    const mtime = statSync(f).mtimeMs;
    const ok = await wharf(['-vb', f, 'alice', 'right']);
    assert.deepEqual([ok.code, ok.err], [0, 'Password for user alice correct.\n']);
    const wrong = await wharf(['-vb', f, 'alice', 'wrong']);
    assert.deepEqual([wrong.code, wrong.err], [EXIT.mismatch, 'password verification failed\n']);
    const unknown = await wharf(['-vb', f, 'nobody', 'right']);
    assert.deepEqual([unknown.code, unknown.err], [EXIT.badUser, 'User nobody not found\n']);
    const md5 = await wharf(['-vb', f, 'old', 'x']);
    assert.equal(md5.code, EXIT.invalid);
    assert.match(md5.err, /user old uses an MD5/);
    const stdin = await wharf(['-vi', f, 'alice'], { stdin: 'right\n' });
    assert.equal(stdin.code, 0);
    const prompted = await wharf(['-v', f, 'alice'], { answers: ['right'] });
    assert.equal(prompted.code, 0);
    assert.deepEqual(prompted.asked, ['Enter password: ']);
    assert.equal(statSync(f).mtimeMs, mtime);
  });
});
