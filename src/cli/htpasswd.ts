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
import { editHtpasswd, hashBcrypt, refusedHashReason, verifyBcrypt } from '../auth/htpasswdfile.js';
import {
  BCRYPT_MAX_BYTES,
  checkPassword,
  EXIT,
  HELP,
  HtpasswdError,
  MAX_LEN,
  parseHtpasswdArgs,
  USAGE,
  type HtpasswdArgs,
} from './htpasswdargs.js';
import { checkCreatable, entries, readHtpasswd, warnRefusedEntries, writeAtomically } from './htpasswdwrite.js';
import type { PasswordPrompt } from './prompt.js';

export {
  DEFAULT_COST,
  EXIT,
  HELP,
  HtpasswdError,
  MAX_COST,
  MIN_COST,
  parseHtpasswdArgs,
  USAGE,
  type HtpasswdArgs,
} from './htpasswdargs.js';
export { terminalPrompt, type PasswordPrompt } from './prompt.js';

export interface HtpasswdIO {
  /** Read to its end for -i. */
  stdin: NodeJS.ReadableStream;
  /** Receives the record for -n, and the help text. */
  stdout: NodeJS.WritableStream;
  /** Receives everything else, as Apache's htpasswd does. */
  stderr: NodeJS.WritableStream;
  prompt: PasswordPrompt;
}

/** More stdin than this is not a password. */
const MAX_STDIN = 64 * 1024;

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
    if (refused)
      throw new HtpasswdError(
        `user ${user} ${refused}; only bcrypt hashes can be verified (and the registry refuses this entry)`,
        EXIT.invalid,
      );
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
    warnRefusedEntries(text, io.stderr);
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
  warnRefusedEntries(text, io.stderr);
  return EXIT.ok;
}

/** The password to hash: from -b, -i, or asked twice on the terminal. */
async function newPassword(args: HtpasswdArgs, io: HtpasswdIO): Promise<string> {
  let password: string;
  if (args.source === 'prompt') {
    password = await ask(io, 'New password: ');
    if ((await ask(io, 'Re-type new password: ')) !== password)
      throw new HtpasswdError('password verification error', EXIT.mismatch);
  } else {
    password = await givenPassword(args, io);
  }
  if (Buffer.byteLength(password) > BCRYPT_MAX_BYTES) {
    io.stderr.write(
      `Warning: bcrypt uses only the first ${BCRYPT_MAX_BYTES} bytes of a password; the rest is ignored.\n`,
    );
  }
  return password;
}

async function givenPassword(args: HtpasswdArgs, io: HtpasswdIO): Promise<string> {
  return args.source === 'argument' ? (args.password as string) : readStdinLine(io.stdin);
}

async function ask(io: HtpasswdIO, question: string): Promise<string> {
  if (!io.prompt.isTTY) {
    throw new HtpasswdError(
      'cannot ask for the password: stdin is not a terminal; use -i to read it from stdin or -b to pass it as an argument',
      EXIT.syntax,
    );
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
  const password = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (/[\r\n]/.test(password))
    throw new HtpasswdError('stdin holds more than one line; -i reads the password from exactly one line', EXIT.syntax);
  checkPassword(password);
  return password;
}
