import type { BlobStore } from './blob-store.ts';
import type { Store } from './store.ts';

/** What one collection did. */
export interface BlobGcResult {
  /** Blobs removed, and their bytes. */
  deleted: number;
  bytes: number;
  /** Blobs kept (in use or too recent). */
  kept: number;
  /** Temp files of interrupted writes removed. */
  tempRemoved: number;
}

/**
 * Mark and sweep over the content-addressed blobs. A blob is kept when a task's result or envelope
 * names it, when it is a module, when `inUse` names it (results held in memory, e.g. replicas of
 * a task still being verified), or when its file or its record is younger than `graceMs` (a result
 * naming it may not be committed yet). Everything else is garbage: outputs of results that were
 * refused, outvoted or withdrawn. Deleting a blob twice is harmless, so coordinators sharing one
 * data directory may collect at the same time.
 */
export async function collectBlobs(
  store: Store,
  blobs: BlobStore,
  options: { nowMs: number; graceMs: number; inUse?: Iterable<string> },
): Promise<BlobGcResult> {
  const cutoff = options.nowMs - options.graceMs;
  const keep = await store.blobsInUse(cutoff);
  for (const name of options.inUse ?? []) keep.add(name);
  const result: BlobGcResult = { deleted: 0, bytes: 0, kept: 0, tempRemoved: 0 };
  const gone: string[] = [];
  for (const blob of blobs.list()) {
    const name = `sha256:${blob.hex}`;
    if (keep.has(name) || blob.mtimeMs >= cutoff) {
      result.kept++;
      continue;
    }
    const size = blobs.delete(blob.hex);
    if (size === undefined) continue;
    result.deleted++;
    result.bytes += size;
    gone.push(name);
  }
  await store.forgetOutputBlobs(gone);
  result.tempRemoved = blobs.removeStaleTemp(cutoff);
  return result;
}
