/** The htpasswd file for `wharf htpasswd`: read and checked, its entries, and the atomic replacement. */
import { randomBytes } from 'node:crypto';
import { open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { htpasswdLineUser, parseHtpasswd } from '../auth/htpasswdfile.js';
import { EXIT, HtpasswdError } from './htpasswdargs.js';
/** The file's text, refused (exit 7) when a line is neither blank, a comment nor `user:...`: probably not an htpasswd file. */
export async function readHtpasswd(file: string): Promise<string> {
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
  if (bad >= 0)
    throw new HtpasswdError(
      `the file ${file} does not appear to be a valid htpasswd file (line ${bad + 1}); it is left unchanged`,
      EXIT.invalid,
    );
  return text;
}

/** Users and hashes as the registry reads them (the last entry of a user wins), whatever the hash format. */
export function entries(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const line of text.split('\n')) {
    const user = htpasswdLineUser(line);
    if (user !== null) users.set(user, line.trim().slice(user.length + 1));
  }
  return users;
}

export async function checkCreatable(file: string): Promise<void> {
  try {
    if ((await stat(dirname(file))).isDirectory()) return;
  } catch {
    // reported below
  }
  throw new HtpasswdError(`cannot create file ${file}: ${dirname(file)} is not a directory`, EXIT.file);
}

/** Tells which entries the registry will refuse, so a file with an old MD5 user does not fail silently later. */
export function warnRefusedEntries(text: string, stderr: NodeJS.WritableStream): void {
  for (const p of parseHtpasswd(text).problems) {
    stderr.write(`Warning: line ${p.line}${p.user ? ` (user ${p.user})` : ''}: ${p.message}\n`);
  }
}

/**
 * Replaces the file by a temp file renamed over it, so a reader (the running registry) sees the old or the new
 * file, never half of one. A symlink is followed (the link stays, its target is replaced); an existing file keeps
 * its mode and, where permitted, its owner; a new file is 0600, as it holds password hashes.
 */
export async function writeAtomically(file: string, text: string): Promise<void> {
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
