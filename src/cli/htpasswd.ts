/**
 * `wharf htpasswd`: creates and edits the htpasswd files `auth.htpasswd` reads, with Apache htpasswd's flags,
 * messages and exit statuses, so scripts written for `htpasswd -Bbc` work unchanged. Only bcrypt is written
 * (the registry accepts nothing else); the other algorithms' flags are refused rather than silently ignored.
 *
 * Deliberate differences from Apache, each safer and visible: a new file is created 0600 (Apache: by umask);
 * the file is replaced atomically (temp file + rename, keeping mode and owner) instead of being rewritten in
 * place; usernames the registry would misread (empty, surrounding blanks, leading '#', control characters)
 * are refused; a missing terminal for the prompt is an error instead of reading stdin; -b with -i is an error
 * instead of "last one wins"; -v on an unknown user does not prompt first.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { editHtpasswd, hashBcrypt, htpasswdLineUser, parseHtpasswd, refusedHashReason, verifyBcrypt } from '../auth/htpasswdfile.js';

/** Apache htpasswd's exit statuses (support/htpasswd.c), reused with the same meaning. */
export const EXIT = {
  ok: 0,
  /** the file cannot be read, created or written */
  file: 1,
  /** a command-line problem */
  syntax: 2,
  /** the two prompted passwords differ, or -v found a wrong password */
  mismatch: 3,
  interrupted: 4,
  /** username or password too long */
  overflow: 5,
  /** the username is illegal or (for -v) not in the file */
  badUser: 6,
  /** the file is not an htpasswd file, or (for -v) the user's hash is not bcrypt */
  invalid: 7,
} as const;

/** Reads a password on a terminal without echoing it. */
export interface PasswordPrompt {
  /** Whether there is a terminal to prompt on. */
  readonly isTTY: boolean;
  /** Shows `question`, reads one line without echo; null when the user interrupts (Ctrl-C). */
  readHidden(question: string): Promise<string | null>;
}

export interface HtpasswdIO {
  /** Read to its end for -i. */
  stdin: NodeJS.ReadableStream;
  /** Receives the record for -n, and the help text. */
  stdout: NodeJS.WritableStream;
  /** Receives everything else, as Apache's htpasswd does. */
  stderr: NodeJS.WritableStream;
  prompt: PasswordPrompt;
}

export interface HtpasswdArgs {
  mode: 'update' | 'create' | 'print' | 'delete' | 'verify';
  /** Where the password comes from. */
  source: 'prompt' | 'argument' | 'stdin';
  cost: number;
  /** Absent for -n. */
  file?: string;
  user: string;
  /** With -b. */
  password?: string;
}

export const DEFAULT_COST = 5;
export const MIN_COST = 4;
export const MAX_COST = 17;
/** Apache's MAX_STRING_LEN - 1, for usernames and passwords. */
const MAX_LEN = 255;
/** bcrypt hashes only this many bytes of a password. */
const BCRYPT_MAX_BYTES = 72;
/** More stdin than this is not a password. */
const MAX_STDIN = 64 * 1024;

const REFUSED_ALGORITHMS: Record<string, string> = {
  m: 'MD5',
  d: 'crypt',
  s: 'SHA-1',
  p: 'plain text',
  '2': 'SHA-256 crypt',
  '5': 'SHA-512 crypt',
};

export const USAGE = `Usage:
  wharf htpasswd [-ciBDv] [-C cost] passwordfile username
  wharf htpasswd -b[cBDv] [-C cost] passwordfile username password
  wharf htpasswd -n[iB] [-C cost] username
  wharf htpasswd -nb[B] [-C cost] username password
`;

export const HELP = `${USAGE}
Creates and updates htpasswd files for auth.htpasswd, with the flags of Apache's htpasswd.
 -c  Create a new file; an existing one is rewritten and truncated.
 -n  Don't update a file; print the user's record on stdout.
 -b  Take the password from the command line (other local users can see it; prefer -i in scripts).
 -i  Read the password from stdin: one line, its line break removed.
 -B  Hash with bcrypt: the default and the only algorithm, as the registry accepts nothing else.
 -C  bcrypt cost, ${MIN_COST} to ${MAX_COST} (default ${DEFAULT_COST}, as Apache's -B; each step doubles the time).
 -D  Delete the user.
 -v  Verify the user's password.
 -h  Show this help.
Without -b or -i the password is asked for twice on the terminal, without echo.
-m, -2, -5, -d, -s, -p and -r (other algorithms) are refused.
A new file is created with mode 0600; an updated file keeps its mode and owner and is replaced atomically.

Exit status: 0 done, 1 the file cannot be read or written, 2 command-line problem, 3 password mismatch or
verification failed, 4 interrupted, 5 username or password too long, 6 illegal or (with -v) unknown username,
7 not an htpasswd file (or, with -v, the user's hash is not bcrypt).
`;

/** A refusal: the message (without the program name) and the exit status. */
export class HtpasswdError extends Error {
  constructor(
    message: string,
    readonly code: number,
    /** Print the usage after the message. */
    readonly usage = false,
  ) {
    super(message);
  }
}

/**
 * Parses Apache-style arguments: options first, single letters combinable (`-Bbc`), `-C` taking the rest of its
 * group or the next argument (`-C10`, `-C 10`), `--` ending options. Returns 'help' for -h/--help.
 */
export function parseHtpasswdArgs(argv: readonly string[]): HtpasswdArgs | 'help' {
  const flags = new Set<string>();
  let cost = DEFAULT_COST;
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (arg === '--help') return 'help';
    if (arg.startsWith('--')) throw new HtpasswdError(`unknown option ${arg}`, EXIT.syntax, true);
    if (!arg.startsWith('-') || arg === '-') break;
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j];
      if (c === 'h') return 'help';
      if (c in REFUSED_ALGORITHMS) {
        throw new HtpasswdError(`-${c} (${REFUSED_ALGORITHMS[c]}) is not supported: only bcrypt (-B) is, as the registry accepts only bcrypt hashes`, EXIT.syntax);
      }
      if (c === 'r') throw new HtpasswdError('-r (rounds for SHA-256/SHA-512 crypt) is not supported: only bcrypt is; its cost is set with -C', EXIT.syntax);
      if (c === 'C') {
        const value = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i];
        if (value === undefined) throw new HtpasswdError('option -C requires an argument', EXIT.syntax, true);
        if (!/^\d+$/.test(value)) throw new HtpasswdError('argument to -C must be a positive integer', EXIT.syntax);
        cost = Number(value);
        if (cost < MIN_COST || cost > MAX_COST) throw new HtpasswdError(`bcrypt cost must be from ${MIN_COST} to ${MAX_COST}, not ${value}`, EXIT.syntax);
        break;
      }
      if (!'cnbiBDv'.includes(c)) throw new HtpasswdError(`unknown option -${c}`, EXIT.syntax, true);
      flags.add(c);
    }
  }

  const modes = ['c', 'n', 'v', 'D'].filter((f) => flags.has(f));
  if (modes.length > 1) throw new HtpasswdError('only one of -c -n -v -D may be specified', EXIT.syntax);
  if (flags.has('b') && flags.has('i')) throw new HtpasswdError('-b and -i cannot be combined: the password comes either from the command line or from stdin', EXIT.syntax);
  const mode = flags.has('c') ? 'create' : flags.has('n') ? 'print' : flags.has('v') ? 'verify' : flags.has('D') ? 'delete' : 'update';
  const source = flags.has('b') ? 'argument' : flags.has('i') ? 'stdin' : 'prompt';

  const rest = argv.slice(i);
  const expected = [...(mode === 'print' ? [] : ['passwordfile']), 'username', ...(source === 'argument' ? ['password'] : [])];
  if (rest.length !== expected.length) {
    const what = rest.length < expected.length ? `missing ${expected.slice(rest.length).join(' and ')}` : `unexpected argument ${JSON.stringify(rest[expected.length])}`;
    throw new HtpasswdError(what, EXIT.syntax, true);
  }
  const file = mode === 'print' ? undefined : rest.shift();
  const user = rest.shift() as string;
  checkUser(user);
  const password = rest.shift();
  if (password !== undefined) checkPassword(password);
  return { mode, source, cost, file, user, password };
}

/** Refuses usernames Apache refuses and those the registry's parser would read differently from what was meant. */
function checkUser(user: string): void {
  if (Buffer.byteLength(user) > MAX_LEN) throw new HtpasswdError(`username too long (> ${MAX_LEN} bytes)`, EXIT.overflow);
  if (user.includes(':')) throw new HtpasswdError("username contains illegal character ':'", EXIT.badUser);
  if (user === '') throw new HtpasswdError('username must not be empty', EXIT.badUser);
  if (/[\x00-\x1f\x7f]/.test(user)) throw new HtpasswdError('username contains a control character', EXIT.badUser);
  if (user.trim() !== user) throw new HtpasswdError('username must not begin or end with whitespace: the registry trims every line', EXIT.badUser);
  if (user.startsWith('#')) throw new HtpasswdError("username must not begin with '#': the line would read as a comment", EXIT.badUser);
}

function checkPassword(password: string): void {
  if (Buffer.byteLength(password) > MAX_LEN) throw new HtpasswdError(`password too long (> ${MAX_LEN} bytes)`, EXIT.overflow);
}

/** Runs `wharf htpasswd <argv>`; returns the exit status. Never throws for the user's mistakes. */
export async function runHtpasswd(argv: readonly string[], io: HtpasswdIO): Promise<number> {
  try {
    const args = parseHtpasswdArgs(argv);
    if (args === 'help') {
      io.stdout.write(HELP);
      return EXIT.ok;
    }
    return await execute(args, io);
  } catch (err) {
    if (!(err instanceof HtpasswdError)) throw err;
    io.stderr.write(`wharf htpasswd: ${err.message}\n`);
    if (err.usage) io.stderr.write(`${USAGE}Run 'wharf htpasswd -h' for the options.\n`);
    return err.code;
  }
}

async function execute(args: HtpasswdArgs, io: HtpasswdIO): Promise<number> {
  const { file, user } = args;
  const say = (line: string) => io.stderr.write(`${line}\n`);

  if (args.mode === 'print') {
    const hash = await hashBcrypt(await newPassword(args, io), args.cost);
    io.stdout.write(`${user}:${hash}\n`);
    return EXIT.ok;
  }
  if (file === undefined) throw new Error('unreachable: a file mode without a file');

  if (args.mode === 'verify') {
    const hash = entries(await readHtpasswd(file)).get(user);
    if (hash === undefined) {
      say(`User ${user} not found`);
      return EXIT.badUser;
    }
    const refused = refusedHashReason(hash);
    if (refused) throw new HtpasswdError(`user ${user} ${refused}; only bcrypt hashes can be verified (and the registry refuses this entry)`, EXIT.invalid);
    const password = args.source === 'prompt' ? await ask(io, 'Enter password: ') : await givenPassword(args, io);
    if (!(await verifyBcrypt(password, hash))) {
      say('password verification failed');
      return EXIT.mismatch;
    }
    say(`Password for user ${user} correct.`);
    return EXIT.ok;
  }

  if (args.mode === 'delete') {
    const { text, found } = editHtpasswd(await readHtpasswd(file), user, null);
    if (!found) {
      // Apache's status: deleting a user who is not there is not an error.
      say(`User ${user} not found`);
      return EXIT.ok;
    }
    await writeAtomically(file, text);
    say(`Deleting password for user ${user}`);
    warnRefusedEntries(text, io);
    return EXIT.ok;
  }

  // update or create. The file is checked before asking for the password and read again after hashing, so a
  // wrong path fails fast and a change made meanwhile by someone else is not lost.
  if (args.mode === 'update') await readHtpasswd(file);
  else await checkCreatable(file);
  const hash = await hashBcrypt(await newPassword(args, io), args.cost);
  const current = args.mode === 'create' ? '' : await readHtpasswd(file);
  const { text, found } = editHtpasswd(current, user, hash);
  await writeAtomically(file, text);
  say(`${found ? 'Updating' : 'Adding'} password for user ${user}`);
  warnRefusedEntries(text, io);
  return EXIT.ok;
}

/** The password to hash: from -b, -i, or asked twice on the terminal. */
async function newPassword(args: HtpasswdArgs, io: HtpasswdIO): Promise<string> {
  let password: string;
  if (args.source === 'prompt') {
    password = await ask(io, 'New password: ');
    if ((await ask(io, 'Re-type new password: ')) !== password) throw new HtpasswdError('password verification error', EXIT.mismatch);
  } else {
    password = await givenPassword(args, io);
  }
  if (Buffer.byteLength(password) > BCRYPT_MAX_BYTES) {
    io.stderr.write(`Warning: bcrypt uses only the first ${BCRYPT_MAX_BYTES} bytes of a password; the rest is ignored.\n`);
  }
  return password;
}

async function givenPassword(args: HtpasswdArgs, io: HtpasswdIO): Promise<string> {
  return args.source === 'argument' ? (args.password as string) : readStdinLine(io.stdin);
}

async function ask(io: HtpasswdIO, question: string): Promise<string> {
  if (!io.prompt.isTTY) {
    throw new HtpasswdError('cannot ask for the password: stdin is not a terminal; use -i to read it from stdin or -b to pass it as an argument', EXIT.syntax);
  }
  const answer = await io.prompt.readHidden(question);
  if (answer === null) throw new HtpasswdError('interrupted', EXIT.interrupted);
  checkPassword(answer);
  return answer;
}

/**
 * Reads all of stdin as the password, removing one trailing "\n" or "\r\n" as Apache's -i does. Apache would
 * keep inner line breaks in the password; more than one line is refused here, as it is almost surely a mistake.
 */
async function readStdinLine(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > MAX_STDIN) throw new HtpasswdError(`password too long (> ${MAX_LEN} bytes)`, EXIT.overflow);
    chunks.push(b);
  }
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (/[\r\n]/.test(password)) throw new HtpasswdError('stdin holds more than one line; -i reads the password from exactly one line', EXIT.syntax);
  checkPassword(password);
  return password;
}

/** The file's text, refused (exit 7) when a line is neither blank, a comment nor `user:...`: probably not an htpasswd file. */
async function readHtpasswd(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new HtpasswdError(`cannot modify file ${file}; use '-c' to create it`, EXIT.file);
    throw new HtpasswdError(`cannot read file ${file}: ${(err as Error).message}`, EXIT.file);
  }
  const lines = text.split('\n');
  const bad = lines.findIndex((l) => l.trim() !== '' && !l.trim().startsWith('#') && htpasswdLineUser(l) === null);
  if (bad >= 0) throw new HtpasswdError(`the file ${file} does not appear to be a valid htpasswd file (line ${bad + 1}); it is left unchanged`, EXIT.invalid);
  return text;
}

/** Users and hashes as the registry reads them (the last entry of a user wins), whatever the hash format. */
function entries(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const line of text.split('\n')) {
    const user = htpasswdLineUser(line);
    if (user !== null) users.set(user, line.trim().slice(user.length + 1));
  }
  return users;
}

async function checkCreatable(file: string): Promise<void> {
  try {
    if ((await stat(dirname(file))).isDirectory()) return;
  } catch {
    // reported below
  }
  throw new HtpasswdError(`cannot create file ${file}: ${dirname(file)} is not a directory`, EXIT.file);
}

/** Tells which entries the registry will refuse, so a file with an old MD5 user does not fail silently later. */
function warnRefusedEntries(text: string, io: HtpasswdIO): void {
  for (const p of parseHtpasswd(text).problems) {
    io.stderr.write(`Warning: line ${p.line}${p.user ? ` (user ${p.user})` : ''}: ${p.message}\n`);
  }
}

/**
 * Replaces the file by a temp file renamed over it, so a reader (the running registry) sees the old or the new
 * file, never half of one. A symlink is followed (the link stays, its target is replaced); an existing file keeps
 * its mode and, where permitted, its owner; a new file is 0600, as it holds password hashes.
 */
async function writeAtomically(file: string, text: string): Promise<void> {
  let target = file;
  try {
    target = await realpath(file);
  } catch {
    // a new file
  }
  let mode = 0o600;
  let owner: { uid: number; gid: number } | undefined;
  try {
    const st = await stat(target);
    mode = st.mode & 0o7777;
    owner = { uid: st.uid, gid: st.gid };
  } catch {
    // a new file
  }
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(text);
      await fh.chmod(mode);
      if (owner && (owner.uid !== process.getuid?.() || owner.gid !== process.getgid?.())) {
        await fh.chown(owner.uid, owner.gid).catch(() => {
          // Only root may give a file away; the file then belongs to whoever updated it, as with any editor.
        });
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw new HtpasswdError(`cannot write file ${file}: ${(err as Error).message}`, EXIT.file);
  }
}

/** A PasswordPrompt on a terminal: the question goes to `output`, the answer is read from `input` in raw mode. */
export function terminalPrompt(input: NodeJS.ReadStream, output: NodeJS.WritableStream): PasswordPrompt {
  // Characters typed ahead of the next question (e.g. both answers pasted at once) wait here.
  let pending = '';
  return {
    isTTY: Boolean(input.isTTY),
    readHidden(question: string): Promise<string | null> {
      return new Promise((resolve) => {
        let answer = '';
        const finish = (value: string | null, rest: string) => {
          input.off('data', onData);
          input.setRawMode(false);
          input.pause();
          pending = rest;
          output.write('\n');
          resolve(value);
        };
        const consume = (s: string) => {
          const chars = [...s];
          for (let k = 0; k < chars.length; k++) {
            const c = chars[k];
            if (c === '\r' || c === '\n' || c === '\x04') {
              // A "\r\n" pair is one line end.
              const skip = c === '\r' && chars[k + 1] === '\n' ? 2 : 1;
              return finish(answer, chars.slice(k + skip).join(''));
            }
            if (c === '\x03') return finish(null, '');
            if (c === '\x7f' || c === '\b') answer = [...answer].slice(0, -1).join('');
            else if (c === '\x15') answer = '';
            else answer += c;
          }
          return undefined;
        };
        const onData = (chunk: Buffer | string) => consume(chunk.toString());
        // Echo is off before the question shows, so an answer typed right after it is never echoed.
        input.setRawMode(true);
        output.write(question);
        input.on('data', onData);
        input.resume();
        if (pending) {
          const p = pending;
          pending = '';
          consume(p);
        }
      });
    },
  };
}
