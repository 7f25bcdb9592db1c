/** The part plan of an S3 multipart assembly (S3Driver.move of a segmented file): pure, unit-tested on its own. */

/** S3's smallest part (all but the last). */
export const MIN_PART = 5 * 1024 * 1024;

/** One part of a multipart assembly: a server-side copy of a range, or small ranges read and uploaded together. */
export type PartJob =
  | { kind: 'copy'; key: string; start: number; end: number }
  | { kind: 'upload'; pieces: Array<{ key: string; start: number; end: number }> };

/**
 * Plans the parts that assemble `segments` in order. Every part but the last is at least 5 MiB (S3's rule):
 * ranges of large segments are copied server-side in `copyChunk` pieces; small segments, and the bytes needed to
 * top them up to 5 MiB, are read and uploaded (so at most ~5 MiB passes through wharf per such part).
 */
export function planParts(segments: Array<{ key: string; size: number }>, copyChunk: number): PartJob[] {
  const jobs: PartJob[] = [];
  let pending: Array<{ key: string; start: number; end: number }> = [];
  let pendingSize = 0;
  const flush = () => {
    if (pendingSize > 0) jobs.push({ kind: 'upload', pieces: pending });
    pending = [];
    pendingSize = 0;
  };
  segments.forEach((seg, i) => {
    const last = i === segments.length - 1;
    let start = 0;
    if (pendingSize > 0) {
      const take = Math.min(MIN_PART - pendingSize, seg.size);
      if (take > 0) pending.push({ key: seg.key, start: 0, end: take });
      pendingSize += take;
      start = take;
      if (pendingSize >= MIN_PART) flush();
    }
    const rest = seg.size - start;
    if (rest <= 0) return;
    if (rest < MIN_PART && !last) {
      pending.push({ key: seg.key, start, end: seg.size });
      pendingSize += rest;
      return;
    }
    if (pendingSize > 0) {
      // Only reachable on the last segment: the pending bytes must precede it in their own (final-sized) part.
      pending.push({ key: seg.key, start, end: seg.size });
      pendingSize += rest;
      return;
    }
    while (start < seg.size) {
      let end = Math.min(start + copyChunk, seg.size);
      if (seg.size - end > 0 && seg.size - end < MIN_PART) end = seg.size;
      jobs.push({ kind: 'copy', key: seg.key, start, end });
      start = end;
    }
  });
  flush();
  return jobs;
}
