// Counts the bulk copies of job bytes that the tab's own code makes, by path, so that tests can
// hold the line the README states (one copy in, one copy out) and fail when a path adds one.
// Every place that copies a job's input or output bytes calls countCopy; reads of a view, the
// program's own I/O (a WASI read into its memory) and the browser's network buffers are not
// copies made here. Each thread keeps its own counts (the executor's reach the page by comlink).

/** Copies by path, e.g. `in:frame-to-arena`, `out:arena-to-frame`. */
export type CopyCounts = Record<string, { count: number; bytes: number }>;

const counts: CopyCounts = {};

/** Records one bulk copy of `bytes` bytes on `path`. */
export function countCopy(path: string, bytes: number): void {
  const entry = counts[path] ?? { count: 0, bytes: 0 };
  counts[path] = entry;
  entry.count += 1;
  entry.bytes += bytes;
}

/** A snapshot of this thread's counts. */
export function copyCounts(): CopyCounts {
  return structuredClone(counts);
}

/** Forgets the counts (tests measure one job at a time). */
export function resetCopyCounts(): void {
  for (const key of Object.keys(counts)) delete counts[key];
}
