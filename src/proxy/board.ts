/**
 * Where replicas sharing Redis (and a filesystem data directory) tell each other which upload file holds a blob
 * being downloaded from an upstream, so that a replica whose client asks for the same blob meanwhile streams it
 * from that file as it grows (blobs.ts `follow`) instead of waiting until it is stored.
 */
export interface DownloadEntry {
  /** The repository whose upload session receives the blob. */
  repository: string;
  /** That session's id. */
  uuid: string;
  /** The blob's size, as the upstream declared it. */
  size: number;
}

export interface DownloadBoard {
  /** Publishes `entry` under `key` while the download runs; the returned function withdraws it. */
  announce(key: string, entry: DownloadEntry): Promise<() => Promise<void>>;
  /** The entry published under `key`, or null (none, expired, or Redis unavailable). */
  find(key: string): Promise<DownloadEntry | null>;
}
