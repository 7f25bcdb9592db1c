/**
 * Blob upload sessions (`_uploads/<uuid>`): streamed appends, digest computed while streaming, and an
 * all-or-nothing commit into the global blob store. Hash state lives in memory; a session continued by
 * another process (or after a restart) is re-hashed from its data file.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { DigestInvalid, RangeInvalid, SizeInvalid, UploadUnknown } from './errors.js';
import { isValidName, type Digest } from '../oci/names.js';
import { isNotFound, type ReadHandle, type StorageDriver } from '../storage/driver.js';
import { ignoreNotFound, statOrNull } from '../storage/notfound.js';
import type { BlobStore } from './blobs.js';
import { checkWrite, UNGUARDED, type WriteGuard } from './guard.js';
import { LocalUploadLocks, type UploadLocks } from './locks.js';
import { Lru } from './lru.js';
import { uploadData, uploadDir, uploadStartedAt } from './paths.js';

/** A blob being stored from elsewhere: see UploadStore.beginIngest. */
export interface Ingest {
  /** The session's id (what another replica's `openIngest` names). */
  readonly uuid: string;
  /** The data file as it is written (drivers with positional reads), or null. The caller closes it. */
  readonly tail: ReadHandle | null;
  write(d: Digest, source: AsyncIterable<Buffer>, verified: Promise<void>): Promise<void>;
  abort(): Promise<void>;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface HashState {
  sha256: Hash;
  offset: number;
}

export interface UploadInfo {
  name: string;
  uuid: string;
  offset: number;
  startedAt: string;
}

export interface WriteOptions {
  /** Where the client says its chunk starts (Content-Range): must be the session's current size. */
  start?: number;
  /** The declared body length, if any: more bytes than that are refused, fewer are SIZE_INVALID. */
  length?: number;
  /** The session's start time from a verified `_state`, which saves reading `startedat`. */
  startedAt?: string;
  /** Runs on the session's current state, under its lock, before anything is written; throws to refuse. */
  check?: (info: UploadInfo) => void;
}

async function* empty(): AsyncGenerator<Buffer> {}

/** Counts and hashes what passes through, optionally stopping at `limit` bytes. */
async function* tap(
  source: AsyncIterable<Buffer>,
  hash: Hash,
  counter: { n: number },
  limit?: number,
): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    counter.n += chunk.length;
    if (limit !== undefined && counter.n > limit)
      throw new SizeInvalid('request body is larger than its Content-Length or Content-Range');
    hash.update(chunk);
    yield chunk;
  }
  if (limit !== undefined && counter.n !== limit)
    throw new SizeInvalid(`received ${counter.n} bytes, expected ${limit}`);
}

/**
 * Hash states kept (a few hundred bytes each). Past this many, the least recently written session loses its state
 * and is re-hashed from its data file if it ever continues; sessions abandoned, purged, or finished by another
 * replica thus cost memory only until pushed out.
 */
export const MAX_HASH_STATES = 10_000;

export class UploadStore {
  private readonly hashes: Lru<string, HashState>;
  /** Sessions this process is writing to, with their size before the write: a status answers that until it ends. */
  private readonly writing = new Map<string, number>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
    private readonly locks: UploadLocks = new LocalUploadLocks(),
    maxHashStates = MAX_HASH_STATES,
    private readonly guard: WriteGuard = UNGUARDED,
  ) {
    this.hashes = new Lru(maxHashStates);
  }

  /** Hash states held in memory (for tests and metrics). */
  get hashStates(): number {
    return this.hashes.size;
  }

  /** Drops what this process holds for a session removed behind its back (upload purging). */
  forget(uuid: string): void {
    this.hashes.delete(uuid);
  }

  static isValidId(id: string): boolean {
    return UUID_RE.test(id);
  }

  /**
   * A session is its `startedat` file. `data` appears with the first byte written (Distribution creates it at
   * once, but also accepts a session without it, creating it when it resumes): most pushes send one body, and two
   * files fewer per blob is measurable.
   */
  async start(name: string): Promise<UploadInfo> {
    checkWrite(this.guard);
    const uuid = randomUUID();
    const startedAt = new Date().toISOString();
    // No hash state yet: that of an empty session costs nothing to make when the first byte comes.
    await this.driver.putContent(uploadStartedAt(name, uuid), Buffer.from(startedAt));
    return { name, uuid, offset: 0, startedAt };
  }

  /**
   * Current state; throws BLOB_UPLOAD_UNKNOWN when there is no such session in this repository. `startedAt`,
   * when the caller knows it from a verified `_state`, saves reading it.
   */
  async status(name: string, uuid: string, startedAt?: string): Promise<UploadInfo> {
    if (!UploadStore.isValidId(uuid)) throw new UploadUnknown(uuid);
    const startedAtFile = uploadStartedAt(name, uuid);
    try {
      const [started, offset] = await Promise.all([
        startedAt !== undefined
          ? this.driver.stat(startedAtFile).then(() => startedAt)
          : this.driver.getContent(startedAtFile).then((b) => b.toString('utf8').trim()),
        statOrNull(this.driver, uploadData(name, uuid)).then((st) => st?.size ?? 0),
      ]);
      // An append is all or nothing, so a write in progress here is not part of the session yet.
      return { name, uuid, offset: this.writing.get(uuid) ?? offset, startedAt: started };
    } catch (err) {
      if (isNotFound(err)) throw new UploadUnknown(uuid);
      throw err;
    }
  }

  /** The state under the session's lock, with the caller's checks applied. */
  private async current(name: string, uuid: string, opts: WriteOptions): Promise<UploadInfo> {
    const info = await this.status(name, uuid, opts.startedAt);
    opts.check?.(info);
    if (opts.start !== undefined && opts.start !== info.offset) {
      throw new RangeInvalid(undefined, `chunk starts at ${opts.start} but the upload has ${info.offset} bytes`);
    }
    return info;
  }

  /** One request at a time per session (across replicas sharing the locks): a second concurrent write is refused rather than interleaved. */
  private async exclusive<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.locks.acquire(uuid);
    if (!release) throw new RangeInvalid({ uuid }, 'another request is writing to this upload');
    try {
      return await fn();
    } finally {
      await release();
    }
  }

  /** The hash of the session's data so far, from memory or by re-reading the data file. */
  private async hashAt(name: string, uuid: string, offset: number): Promise<Hash> {
    const h = this.hashes.get(uuid);
    if (h && h.offset === offset) return h.sha256;
    const hash = createHash('sha256');
    if (offset > 0) {
      for await (const chunk of await this.driver.reader(uploadData(name, uuid), 0, offset))
        hash.update(chunk as Buffer);
    }
    this.hashes.set(uuid, { sha256: hash, offset });
    return hash;
  }

  /** Appends `body` and returns the new state. */
  async append(name: string, uuid: string, body: AsyncIterable<Buffer>, opts: WriteOptions = {}): Promise<UploadInfo> {
    checkWrite(this.guard);
    return this.exclusive(uuid, async () => {
      const info = await this.current(name, uuid, opts);
      // The driver returns the new size, and `exclusive` keeps this process's writers out: no need to re-read the state.
      const offset = await this.write(name, uuid, info.offset, body, opts.length);
      return { ...info, offset };
    });
  }

  private async write(
    name: string,
    uuid: string,
    offset: number,
    body: AsyncIterable<Buffer>,
    length?: number,
  ): Promise<number> {
    const base = await this.hashAt(name, uuid, offset);
    const hash = base.copy();
    const counter = { n: 0 };
    // All or nothing: a short, long or broken body leaves the session at `offset`.
    this.writing.set(uuid, offset);
    try {
      const size = await this.driver.append(uploadData(name, uuid), tap(body, hash, counter, length));
      this.hashes.set(uuid, { sha256: hash, offset: size });
      return size;
    } finally {
      this.writing.delete(uuid);
    }
  }

  /**
   * Appends an optional final chunk, verifies the digest (and size when given) and moves the data into the
   * global store, then links it in the repository. On a mismatch nothing is committed and the session is removed.
   */
  async complete(
    name: string,
    uuid: string,
    digest: Digest,
    body: AsyncIterable<Buffer> | null,
    opts: WriteOptions = {},
  ): Promise<{ size: number }> {
    checkWrite(this.guard);
    return this.exclusive(uuid, async () => {
      const info = await this.current(name, uuid, opts);
      let size = info.offset;
      // An empty blob may have no data file yet: the write creates it.
      if (body || size === 0) size = await this.write(name, uuid, info.offset, body ?? empty(), opts.length);
      const actual = await this.digestOf(name, uuid, digest, size);
      if (actual !== digest.hex) {
        await this.cancel(name, uuid);
        throw new DigestInvalid(digest.value);
      }
      await this.blobs.commit(uploadData(name, uuid), digest, size);
      await Promise.all([this.blobs.link(name, digest), this.remove(name, uuid)]);
      return { size };
    });
  }

  private async digestOf(name: string, uuid: string, digest: Digest, size: number): Promise<string> {
    if (digest.algorithm === 'sha256') return (await this.hashAt(name, uuid, size)).copy().digest('hex');
    const hash = createHash(digest.algorithm);
    for await (const chunk of await this.driver.reader(uploadData(name, uuid), 0, size)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  private async remove(name: string, uuid: string): Promise<void> {
    this.forget(uuid);
    await ignoreNotFound(this.driver.delete(uploadDir(name, uuid)));
  }

  /**
   * Starts storing a blob whose bytes come from elsewhere (the pull-through cache) through a session of its own.
   * With a driver that reads files in place (filesystem) the session's data file is created at once and `tail`
   * reads it while it is written, so the cache keeps no copy of its own; the handle stays readable after the
   * commit moved the file. Call `write` or `abort` exactly once.
   */
  async beginIngest(name: string): Promise<Ingest> {
    checkWrite(this.guard);
    const uuid = randomUUID();
    const path = uploadData(name, uuid);
    const remove = () => this.driver.delete(uploadDir(name, uuid)).catch(() => undefined);
    let tail: ReadHandle | null = null;
    try {
      await this.driver.putContent(uploadStartedAt(name, uuid), Buffer.from(new Date().toISOString()));
      if (this.driver.openRead) {
        await this.driver.append(path, empty());
        tail = await this.driver.openRead(path);
      }
    } catch (err) {
      await remove();
      throw err;
    }
    return {
      uuid,
      tail,
      // `source` is appended while `verified` settles (it rejects when the bytes do not hash to `d`); only when
      // both succeed is the data committed and linked into `name`. The session is removed in every case.
      write: async (d, source, verified) => {
        try {
          // Both settle before the session is removed: the append ends (keeping nothing) once the source fails.
          const [appended, checked] = await Promise.allSettled([this.driver.append(path, source), verified]);
          if (checked.status === 'rejected') throw checked.reason;
          if (appended.status === 'rejected') throw appended.reason;
          await this.blobs.commit(path, d, appended.value);
          await this.blobs.link(name, d);
        } finally {
          await remove();
        }
      },
      abort: remove,
    };
  }

  /**
   * The data file of an ingest session that another process is writing (a replica sharing this data directory),
   * opened for positional reads; null when the driver cannot read files in place (S3) or the session is gone.
   */
  async openIngest(name: string, uuid: string): Promise<ReadHandle | null> {
    // Both come from another process (through Redis): never a path outside an upload session.
    if (!this.driver.openRead || !isValidName(name) || !UploadStore.isValidId(uuid)) return null;
    return this.driver.openRead(uploadData(name, uuid)).catch((err: unknown) => {
      if (isNotFound(err)) return null;
      throw err;
    });
  }

  async cancel(name: string, uuid: string): Promise<void> {
    checkWrite(this.guard);
    await this.status(name, uuid);
    await this.remove(name, uuid);
  }
}
