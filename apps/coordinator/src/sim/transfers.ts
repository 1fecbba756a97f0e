// Data that does not travel inline in a frame: inputs uploaded as blobs, fetched over HTTP as a tab
// does, and outputs too big for a frame, sent as streams before the result.
import { randomBytes } from 'node:crypto';
import type { ComputeAssignment, DataRef, Frame_Payload } from '@flock/protocol';
import { sha256Hex } from '../sha256.ts';

/** The lease a frame belongs to, as results and streams name it. */
export interface LeaseBase {
  task_id: string;
  lease_id: string;
  task_token: string;
}

/**
 * Inputs uploaded as blobs (`uri: "flock:sha256:<hex>"`) fetched as a tab does, from the lease's
 * input route with its task token, and inlined into a copy of the assignment for the runner.
 * `coordinatorUrl` is the volunteer's `url` option (HTTP or WebSocket).
 */
export async function fetchInputs(
  coordinatorUrl: string,
  assignment: ComputeAssignment,
): Promise<ComputeAssignment> {
  const inputs = assignment.envelope?.inputs ?? [];
  if (!inputs.some((i) => i.uri?.startsWith('flock:'))) return assignment;
  const base = new URL(coordinatorUrl);
  base.protocol = base.protocol === 'wss:' || base.protocol === 'https:' ? 'https:' : 'http:';
  const resolved = await Promise.all(
    inputs.map(async (input) => {
      if (!input.uri?.startsWith('flock:')) return input;
      const name = input.uri.slice('flock:'.length);
      const url = new URL(`/v1/leases/${encodeURIComponent(assignment.lease_id ?? '')}/inputs/${name}`, base);
      const res = await fetch(url, { headers: { 'x-flock-task-token': assignment.task_token ?? '' } });
      if (!res.ok) throw new Error(`input ${name}: HTTP ${res.status}`);
      const { uri: _uri, ...rest } = input;
      return { ...rest, inline_bytes: new Uint8Array(await res.arrayBuffer()) };
    }),
  );
  return { ...assignment, envelope: { ...assignment.envelope, inputs: resolved } };
}

/**
 * An ml.* model by hash (`sha256:<hex>`), fetched from the coordinator's public `GET /v1/modules`
 * as a tab fetches it, and checked against its hash.
 */
export async function fetchModel(coordinatorUrl: string, hash: string): Promise<Uint8Array | undefined> {
  const base = new URL(coordinatorUrl);
  base.protocol = base.protocol === 'wss:' || base.protocol === 'https:' ? 'https:' : 'http:';
  const res = await fetch(new URL(`/v1/modules/${hash}`, base));
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`model ${hash}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (`sha256:${sha256Hex(bytes)}` !== hash) throw new Error(`model ${hash}: hash mismatch`);
  return bytes;
}

/**
 * Outputs that would not fit a frame of `limit` bytes (half of it or more) are sent as streams
 * first, through `send`; the returned outputs point at them.
 */
export function streamLarge(
  send: (payload: Frame_Payload) => boolean,
  limit: number,
  base: LeaseBase,
  outputs: DataRef[],
): DataRef[] {
  const chunkSize = limit - 4096;
  return outputs.map((out) => {
    const bytes = out.inline_bytes;
    if (!bytes || bytes.length < limit / 2) return out;
    const streamId = `s-${randomBytes(8).toString('hex')}`;
    const hash = `sha256:${sha256Hex(bytes)}`;
    send({
      stream_start: {
        ...base,
        stream_id: streamId,
        name: out.name ?? '',
        content_type: out.content_type ?? '',
        total_bytes: bytes.length,
        hash,
      },
    });
    let seq = 0;
    for (let off = 0; off < bytes.length; off += chunkSize) {
      send({ stream_chunk: { stream_id: streamId, seq: seq++, data: bytes.subarray(off, off + chunkSize) } });
    }
    send({ stream_end: { stream_id: streamId, status: 'ok', chunks: seq, total_bytes: bytes.length } });
    const ref: DataRef = { name: out.name ?? '', uri: `stream:${streamId}`, size: bytes.length, hash };
    if (out.content_type) ref.content_type = out.content_type;
    return ref;
  });
}
