/**
 * Blobs through the cache. A blob the repository does not hold is downloaded once (per process; across replicas
 * sharing Redis, one replica downloads and the others wait for it in storage), streamed to every client that asks
 * meanwhile (see spool.ts), verified, and committed into the global store and linked into the repository as an
 * upload would be. A blob already stored for another repository is linked once the upstream confirms that this
 * repository has it too (a HEAD), so no one reads a blob through a repository that does not hold it.
 */
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Digest } from '../oci/names.js';
import type { UploadLocks } from '../registry/locks.js';
import type { Registry } from '../registry/registry.js';
import type { Ingest } from '../registry/uploads.js';
import type { ReadHandle } from '../storage/driver.js';
import type { DownloadBoard, DownloadEntry } from './board.js';
import { UpstreamError } from './client.js';
import { statusError, unavailable, type Route } from './manifests.js';
import { Spool } from './spool.js';
import { Upstream } from './upstream.js';

/** A download in progress: its spool, once the upstream answered. */
interface Download {
  spool: Promise<Spool>;
}

/** How often a replica waiting for another replica's download looks for the blob in storage. */
const WAIT_POLL_MS = 250;
/** Following another replica's download: the read size, the wait when nothing new was written, and how often
 * that replica's board entry is checked while nothing new comes. */
const FOLLOW_READ_BYTES = 1024 * 1024;
const FOLLOW_POLL_MS = 5;
const FOLLOW_CHECK_MS = 500;

/** The board key of a blob: one download per blob across replicas, whichever repository asked. */
const boardKey = (d: Digest) => `${d.algorithm}:${d.hex}`;

export class BlobProxy {
  private readonly downloads = new Map<string, Download>();

  constructor(
    private readonly registry: Registry,
    private readonly log: Logger,
    private readonly locks?: UploadLocks,
    private readonly board?: DownloadBoard,
  ) {}

  /**
   * Makes the blob servable from `route.local` without downloading it, when it can: true when it is linked there
   * (or was just linked, being stored already and confirmed upstream). False: it must come from the upstream.
   */
  async available(route: Route, d: Digest): Promise<boolean> {
    // The size fresh from storage: expiry's GC may have removed the blob this process still remembers.
    if (
      (await this.registry.blobs.isLinked(route.local, d)) &&
      (await this.registry.blobs.globalSize(d, true)) !== null
    ) {
      route.upstream.hit('blob');
      return true;
    }
    // Read-only mode links nothing: the blob is passed through from the upstream instead.
    if (this.registry.options.readOnly || (await this.registry.blobs.globalSize(d, true)) === null) return false;
    const info = await this.head(route, d).catch(() => null);
    if (!info) return false;
    await this.registry.upkeep.blobs.link(route.local, d);
    route.upstream.hit('blob');
    return true;
  }

  /** Size of the blob upstream (HEAD); throws BLOB_UNKNOWN or UNAVAILABLE. */
  async head(route: Route, d: Digest): Promise<{ size: number | null }> {
    const up = route.upstream;
    let res;
    try {
      res = await up.client.request('HEAD', `/v2/${route.remote}/blobs/${d.value}`, Upstream.scope(route.remote));
    } catch (err) {
      this.report(route, err);
      throw unavailable(err);
    }
    res.body.resume();
    if (res.status !== 200) {
      const err = statusError(res, 'BLOB_UNKNOWN', d.value);
      this.report(route, err);
      throw unavailable(err);
    }
    const n = Number(res.headers['content-length']);
    return { size: Number.isSafeInteger(n) && n >= 0 ? n : null };
  }

  /**
   * The spool of the blob's download, starting one unless one runs for this upstream repository already. Resolves
   * once the upstream answered with the body; rejects with BLOB_UNKNOWN or UNAVAILABLE.
   */
  async download(route: Route, d: Digest): Promise<Spool> {
    const key = `${route.upstream.label} ${route.remote} ${d.value}`;
    let dl = this.downloads.get(key);
    if (dl) {
      route.upstream.hit('blob');
      return dl.spool;
    }
    route.upstream.miss('blob');
    const spool = this.start(route, d, () => this.downloads.delete(key));
    dl = { spool };
    this.downloads.set(key, dl);
    spool.catch(() => this.downloads.delete(key));
    return spool;
  }

  private async start(route: Route, d: Digest, finished: () => void): Promise<Spool> {
    const up = route.upstream;
    const held = await this.lock(route, d, finished);
    if ('follow' in held) return held.follow;
    const { release } = held;
    let res;
    try {
      res = await up.client.request('GET', `/v2/${route.remote}/blobs/${d.value}`, Upstream.scope(route.remote));
    } catch (err) {
      await release();
      this.report(route, err);
      throw unavailable(err);
    }
    if (res.status !== 200) {
      await release();
      const err = statusError(res, 'BLOB_UNKNOWN', d.value);
      this.report(route, err);
      throw unavailable(err);
    }
    const declared = Number(res.headers['content-length']);
    const size = Number.isSafeInteger(declared) && declared >= 0 ? declared : null;
    // Read-only mode stores nothing: the clients are served (verified, as ever) and the blob is fetched again next
    // time. A storage that cannot start the write (a full disk) does not keep the clients from the blob either.
    let ingest: Ingest | null = null;
    let spool: Spool;
    try {
      if (!this.registry.options.readOnly)
        ingest = await this.registry.upkeep.uploads.beginIngest(route.local).catch((err: unknown) => {
          this.log.error(
            { err, upstream: up.label, repository: route.local, digest: d.value },
            'proxy: cannot store the blob; serving it without keeping it',
          );
          return null;
        });
      spool = ingest?.tail ? Spool.over(ingest.tail, size) : await Spool.create(size);
    } catch (err) {
      res.body.destroy();
      await ingest?.abort();
      await release();
      throw err;
    }
    // Replicas whose clients ask for the blob meanwhile stream it from the same file (filesystem, known size).
    const withdraw =
      this.board && ingest?.tail && size !== null
        ? await this.board.announce(boardKey(d), { repository: route.local, uuid: ingest.uuid, size }).catch(() => null)
        : null;
    // Before the first byte: storage must see every byte from memory.
    const toStore = ingest ? spool.storeReader() : null;
    const filled = spool.fill(res.body, d.algorithm, d.hex, (n) => up.bytes('blob', n));
    // Observed by store() (and by every reader through the spool); never an unhandled rejection meanwhile.
    // A failed download is forgotten at once: the next request starts afresh rather than joining it.
    filled.catch(() => finished());
    void (ingest && toStore ? this.store(ingest, d, spool, toStore, filled) : filled)
      .catch((err: unknown) => {
        if (spool.state === 'failed' && !spool.storageLost)
          this.report(route, new UpstreamError('status', `${route.remote}@${d.value}: ${spool.error?.message}`, 502));
        else
          this.log.error(
            { err, upstream: up.label, repository: route.local, digest: d.value },
            'proxy: could not store a verified blob',
          );
      })
      .finally(async () => {
        finished();
        spool.release();
        await withdraw?.();
        await release();
      });
    return spool;
  }

  /**
   * Streams the blob from the upload file another replica is downloading it into (its board entry), verified by
   * this replica's own hash as ever; null when that file cannot be read here. The follower fails when the other
   * replica's entry goes (or changes) before the blob is stored: its download failed or its process died.
   */
  private async follow(route: Route, d: Digest, e: DownloadEntry, finished: () => void): Promise<Spool | null> {
    const handle = await this.registry.upkeep.uploads.openIngest(e.repository, e.uuid).catch(() => null);
    if (!handle) return null;
    // Every byte the follower has was read from that file: one missing later means the file shrank.
    const spool = Spool.over(handle, e.size, { readBack: true });
    const filled = spool.fill(Readable.from(this.tail(handle, d, e)), d.algorithm, d.hex, () => {});
    void filled
      .catch((err: unknown) =>
        this.log.warn(
          { err, upstream: route.upstream.label, repository: route.local, digest: d.value },
          'proxy: the download this replica followed failed',
        ),
      )
      .finally(() => {
        finished();
        spool.release();
      });
    return spool;
  }

  /** The bytes of another replica's upload file as they are written, until `e.size` of them were read. */
  private async *tail(handle: ReadHandle, d: Digest, e: DownloadEntry): AsyncGenerator<Buffer> {
    let checked = Date.now();
    for (let pos = 0; pos < e.size;) {
      const buf = Buffer.allocUnsafe(Math.min(FOLLOW_READ_BYTES, e.size - pos));
      const n = await handle.read(buf, buf.length, pos);
      if (n > 0) {
        pos += n;
        yield n === buf.length ? buf : buf.subarray(0, n);
        continue;
      }
      // Nothing new: the other replica is still writing, or has stored the blob (the rest is there), or stopped.
      if (Date.now() - checked >= FOLLOW_CHECK_MS) {
        checked = Date.now();
        const now = await this.board!.find(boardKey(d));
        if (now?.uuid !== e.uuid && (await this.registry.blobs.globalSize(d, true)) === null)
          throw new Error('the replica downloading the blob stopped before storing it');
      }
      await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
    }
  }

  /** Writes the spool into the ingest session, committed and linked once verified. */
  private async store(
    ingest: Ingest,
    d: Digest,
    spool: Spool,
    toStore: ReturnType<Spool['storeReader']>,
    filled: Promise<void>,
  ): Promise<void> {
    try {
      await ingest.write(d, toStore.chunks, filled);
    } catch (err) {
      // The download's own failure is reported by the caller; a failed write also stops a spool tailing it.
      if (spool.state !== 'failed') spool.storageFailed(err as Error);
      throw err;
    } finally {
      toStore.close();
    }
  }

  /**
   * Across replicas (Redis locks): one downloads. The others follow its upload file when its board entry names one
   * they can read (a shared filesystem), else wait until the blob is in storage, and download it themselves only if
   * it never appears there (the holder failed). Per process the download map already does this.
   */
  private async lock(
    route: Route,
    d: Digest,
    finished: () => void,
  ): Promise<{ release: () => Promise<void> } | { follow: Spool }> {
    const none = async () => {};
    if (!this.locks) return { release: none };
    const name = `proxy-${d.algorithm}-${d.hex}`;
    for (;;) {
      const release = await this.locks.acquire(name);
      if (release) return { release };
      const entry = this.board ? await this.board.find(boardKey(d)).catch(() => null) : null;
      const follow = entry && (await this.follow(route, d, entry, finished));
      if (follow) return { follow };
      await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
      if ((await this.registry.blobs.globalSize(d, true)) !== null) throw new BlobArrived();
    }
  }

  private report(route: Route, err: unknown): void {
    if (err instanceof UpstreamError)
      route.upstream.failed(err.status === 502 ? 'content' : err.kind, `${route.remote}: ${err.message}`);
  }
}

/** Another replica stored the blob while this one waited: serve it from storage. */
export class BlobArrived extends Error {
  constructor() {
    super('blob stored by another replica');
  }
}
