/** `wharf htpasswd`'s command line: Apache htpasswd's flags, usage text and exit statuses. */

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
        throw new HtpasswdError(
          `-${c} (${REFUSED_ALGORITHMS[c]}) is not supported: only bcrypt (-B) is, as the registry accepts only bcrypt hashes`,
          EXIT.syntax,
        );
      }
      if (c === 'r')
        throw new HtpasswdError(
          '-r (rounds for SHA-256/SHA-512 crypt) is not supported: only bcrypt is; its cost is set with -C',
          EXIT.syntax,
        );
      if (c === 'C') {
        const value = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i];
        if (value === undefined) throw new HtpasswdError('option -C requires an argument', EXIT.syntax, true);
        if (!/^\d+$/.test(value)) throw new HtpasswdError('argument to -C must be a positive integer', EXIT.syntax);
        cost = Number(value);
        if (cost < MIN_COST || cost > MAX_COST)
          throw new HtpasswdError(`bcrypt cost must be from ${MIN_COST} to ${MAX_COST}, not ${value}`, EXIT.syntax);
        break;
      }
      if (!'cnbiBDv'.includes(c)) throw new HtpasswdError(`unknown option -${c}`, EXIT.syntax, true);
      flags.add(c);
    }
  }

  const modes = ['c', 'n', 'v', 'D'].filter((f) => flags.has(f));
  if (modes.length > 1) throw new HtpasswdError('only one of -c -n -v -D may be specified', EXIT.syntax);
  if (flags.has('b') && flags.has('i'))
    throw new HtpasswdError(
      '-b and -i cannot be combined: the password comes either from the command line or from stdin',
      EXIT.syntax,
    );
  const mode = flags.has('c')
    ? 'create'
    : flags.has('n')
      ? 'print'
      : flags.has('v')
        ? 'verify'
        : flags.has('D')
          ? 'delete'
          : 'update';
  const source = flags.has('b') ? 'argument' : flags.has('i') ? 'stdin' : 'prompt';

  const rest = argv.slice(i);
  const expected = [
    ...(mode === 'print' ? [] : ['passwordfile']),
    'username',
    ...(source === 'argument' ? ['password'] : []),
  ];
  if (rest.length !== expected.length) {
    const what =
      rest.length < expected.length
        ? `missing ${expected.slice(rest.length).join(' and ')}`
        : `unexpected argument ${JSON.stringify(rest[expected.length])}`;
    throw new HtpasswdError(what, EXIT.syntax, true);
  }
  const file = mode === 'print' ? undefined : rest.shift();
  const user = rest.shift() as string;
  checkUser(user);
  const password = rest.shift();
  if (password !== undefined) checkPassword(password);
  return { mode, source, cost, file, user, password };
}

/** Apache's MAX_STRING_LEN - 1, for usernames and passwords. */
export const MAX_LEN = 255;
/** bcrypt hashes only this many bytes of a password. */
export const BCRYPT_MAX_BYTES = 72;
/** Refuses usernames Apache refuses and those the registry's parser would read differently from what was meant. */
export function checkUser(user: string): void {
  if (Buffer.byteLength(user) > MAX_LEN)
    throw new HtpasswdError(`username too long (> ${MAX_LEN} bytes)`, EXIT.overflow);
  if (user.includes(':')) throw new HtpasswdError("username contains illegal character ':'", EXIT.badUser);
  if (user === '') throw new HtpasswdError('username must not be empty', EXIT.badUser);
  if ([...user].some((c) => c < ' ' || c === '\x7f'))
    throw new HtpasswdError('username contains a control character', EXIT.badUser);
  if (user.trim() !== user)
    throw new HtpasswdError(
      'username must not begin or end with whitespace: the registry trims every line',
      EXIT.badUser,
    );
  if (user.startsWith('#'))
    throw new HtpasswdError("username must not begin with '#': the line would read as a comment", EXIT.badUser);
}

export function checkPassword(password: string): void {
  if (Buffer.byteLength(password) > MAX_LEN)
    throw new HtpasswdError(`password too long (> ${MAX_LEN} bytes)`, EXIT.overflow);
}
