// Outputs of a result as they are stored: streamed ones claimed from the worker's streams, large
// inline ones moved to the blob store; both then referenced by `/v1/blobs/sha256:<hex>`.
import type { DataRef } from '@flock/protocol';
import type { Engine } from './engine.ts';
import type { Lease } from './lease-table.ts';
import type { AckCode, WorkerState } from './worker-state.ts';

/** Output blobs the store refused to record, kept to record again (oldest first past it dropped). */
const MAX_UNRECORDED = 10_000;

export class ResultOutputs {
  /** Output blobs whose record the store refused (an outage), recorded again each tick. */
  private readonly unrecorded: Array<{ name: string; tenant: string; size: number }> = [];

  constructor(private readonly e: Engine) {}

  /**
   * The output as stored, or why the result is refused. `tenant` undefined: a check's output,
   * kept as a blob for judging but not shown to any tenant.
   */
  resolve(worker: WorkerState, lease: Lease, tenant: string | undefined, out: DataRef): DataRef | AckCode {
    if (out.uri?.startsWith('stream:')) {
      const streamId = out.uri.slice('stream:'.length);
      const stream = worker.streams.get(streamId);
      if (!stream || stream.leaseId !== lease.leaseId) return 'STREAM_UNKNOWN';
      if (stream.error) return stream.error as AckCode;
      worker.streams.delete(streamId);
      if (tenant !== undefined) this.record(`sha256:${stream.hex}`, tenant, stream.size);
      const ref: DataRef = {
        ...out,
        uri: `/v1/blobs/sha256:${stream.hex}`,
        size: stream.size,
        hash: `sha256:${stream.hex}`,
      };
      if (!ref.content_type && stream.contentType) ref.content_type = stream.contentType;
      return ref;
    }
    const bytes = out.inline_bytes;
    if (bytes && bytes.length > this.e.config.inlineOutputBytes) {
      const hex = this.e.blobs.put(bytes);
      if (tenant !== undefined) this.record(`sha256:${hex}`, tenant, bytes.length);
      const ref: DataRef = {
        ...out,
        uri: `/v1/blobs/sha256:${hex}`,
        size: bytes.length,
        hash: `sha256:${hex}`,
      };
      delete ref.inline_bytes;
      return ref;
    }
    return out;
  }

  /**
   * Records an output blob for its tenant (stored bytes), not awaited. Should the store refuse it
   * (a PostgreSQL outage), it is recorded again at the next housekeeping ticks (`recordAgain`): a
   * result parked meanwhile comes again with its output already a blob reference, so nothing else
   * would record it, and the tenant's stored-bytes quota would not count it.
   */
  private record(name: string, tenant: string, size: number): void {
    this.e.store.recordBlob(name, tenant, 'output', size, Date.now()).catch((err: unknown) => {
      if (this.unrecorded.length === 0)
        this.e.log.warn({ err, blob: name }, 'output blob not recorded in the store: tried again each tick');
      if (this.unrecorded.length >= MAX_UNRECORDED) this.unrecorded.shift();
      this.unrecorded.push({ name, tenant, size });
    });
  }

  /** Records again the output blobs the store refused (housekeeping tick; recording is idempotent). */
  recordAgain(): void {
    for (const { name, tenant, size } of this.unrecorded.splice(0)) this.record(name, tenant, size);
  }

  /** The bytes of a stored output named by its uri (`…sha256:<hex>`). */
  blobBytes(uri: string): Uint8Array | undefined {
    const hex = /sha256:([0-9a-f]{64})$/.exec(uri)?.[1];
    return hex ? this.e.blobs.read(hex) : undefined;
  }
}
