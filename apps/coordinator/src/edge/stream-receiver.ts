// Large outputs arrive as stream_start / stream_chunk / stream_end: sequence, size and sha256
// are checked, the bytes written to a temp file and renamed into the blob store; the result frame
// then names the stream (`uri: "stream:<id>"`), which the engine claims from the worker's streams.
import type { StreamChunk, StreamEnd, StreamStart } from '@flock/protocol';
import type { CoordinatorConfig } from '../config.ts';
import type { Coordinator, StoredStream, WorkerState } from '../engine/coordinator.ts';
import type { BlobWriter } from '../store/blob-store.ts';
import { Violation } from './worker-violation.ts';

/** Streams one connection may have open at once. */
const MAX_OPEN_STREAMS = 4;

interface OpenStream {
  start: StreamStart;
  leaseId: string;
  writer: BlobWriter | undefined;
  nextSeq: number;
  bytes: number;
  error: string | undefined;
}

/** The streams of one connection. */
export class StreamReceiver {
  private readonly open = new Map<string, OpenStream>();

  constructor(
    private readonly coordinator: Coordinator,
    private readonly config: CoordinatorConfig,
  ) {}

  start(worker: WorkerState, start: StreamStart): void {
    const id = start.stream_id ?? '';
    if (!id || this.open.has(id) || worker.streams.has(id)) {
      throw Violation.of('STREAM_INVALID', `stream id "${id}" is empty or already used`);
    }
    if (this.open.size >= MAX_OPEN_STREAMS) throw Violation.of('TOO_MANY_STREAMS', 'too many open streams');
    const total = start.total_bytes ?? 0;
    if (total > this.config.maxStreamBytes) {
      throw Violation.of(
        'STREAM_TOO_LARGE',
        `stream of ${total} bytes exceeds ${this.config.maxStreamBytes}`,
      );
    }
    const leaseId = start.lease_id ?? '';
    const refused = this.coordinator.checkLease(worker, leaseId, start.task_id, start.task_token);
    this.open.set(id, {
      start,
      leaseId,
      // A refused stream is read and dropped; its result is refused with the same code.
      writer: refused ? undefined : this.coordinator.blobs.writer(),
      nextSeq: 0,
      bytes: 0,
      error: refused,
    });
  }

  chunk(chunk: StreamChunk): void {
    const stream = this.open.get(chunk.stream_id ?? '');
    if (!stream) throw Violation.of('STREAM_UNKNOWN', `no open stream "${chunk.stream_id}"`);
    if ((chunk.seq ?? 0) !== stream.nextSeq) {
      throw Violation.of('STREAM_OUT_OF_ORDER', `chunk ${chunk.seq}, expected ${stream.nextSeq}`);
    }
    stream.nextSeq += 1;
    const data = chunk.data ?? new Uint8Array(0);
    stream.bytes += data.length;
    const declared = stream.start.total_bytes ?? 0;
    if (stream.bytes > declared || stream.bytes > this.config.maxStreamBytes) {
      stream.writer?.abort();
      throw Violation.of('STREAM_TOO_LARGE', `stream exceeds its declared ${declared} bytes`);
    }
    stream.writer?.write(data);
  }

  /** The stream is complete: stored (or refused) and left with the worker for its result to claim. */
  end(worker: WorkerState, end: StreamEnd): void {
    const id = end.stream_id ?? '';
    const stream = this.open.get(id);
    if (!stream) throw Violation.of('STREAM_UNKNOWN', `no open stream "${id}"`);
    this.open.delete(id);
    const stored: StoredStream = {
      leaseId: stream.leaseId,
      hex: undefined,
      size: stream.bytes,
      name: stream.start.name ?? '',
      contentType: stream.start.content_type ?? '',
      error: stream.error,
    };
    const writer = stream.writer;
    if (!writer || stored.error) {
      writer?.abort();
    } else if (end.status === 'aborted') {
      writer.abort();
      stored.error = 'STREAM_UNKNOWN';
    } else {
      const hex = writer.finish();
      const declaredHash = stream.start.hash ?? '';
      const ok =
        stream.bytes === (stream.start.total_bytes ?? 0) &&
        (end.chunks ?? 0) === stream.nextSeq &&
        (end.total_bytes ?? 0) === stream.bytes &&
        (declaredHash === '' || declaredHash === `sha256:${hex}`);
      if (ok) {
        writer.commit(hex);
        stored.hex = hex;
      } else {
        writer.abort();
        stored.error = 'HASH_MISMATCH';
      }
    }
    worker.streams.set(id, stored);
  }

  /** The connection closed: open streams are dropped. */
  abortAll(): void {
    for (const s of this.open.values()) s.writer?.abort();
    this.open.clear();
  }
}
