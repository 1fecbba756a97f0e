// Results and failures as frames. A result's outputs are views of its executor's arena: the frame
// is encoded from them (the one copy out), and an output too large for one frame goes first as
// stream_start / stream_chunk / stream_end, each chunk encoded from a view of the same bytes.
import { type ComputeResult, type DataRef, uuid } from '@flock/protocol';
import { countCopy } from './copy-meter.ts';
import { outputHash } from './module-hash.ts';
import type { WorkerConnection } from './worker-connection.ts';

/** Sends `result`, streaming outputs that would not fit one frame; false when the socket is not open. */
export async function sendResult(connection: WorkerConnection, result: ComputeResult): Promise<boolean> {
  const limit = connection.maxFrameBytes;
  const chunkSize = limit - 4096;
  let inline = 0;
  const outputs: DataRef[] = [];
  for (const out of result.outputs ?? []) {
    const bytes = out.inline_bytes;
    if (!bytes || inline + bytes.byteLength < limit / 2) {
      inline += bytes?.byteLength ?? 0;
      outputs.push(out);
      continue;
    }
    // Not crypto.randomUUID: an insecure origin (http://<server>:8787 from another machine) lacks it.
    const streamId = `s-${uuid()}`;
    const hash = out.hash ?? (await outputHash(bytes));
    if (!connection.open) return false;
    connection.send({
      stream_start: {
        stream_id: streamId,
        task_id: result.task_id ?? '',
        lease_id: result.lease_id ?? '',
        task_token: result.task_token ?? '',
        name: out.name ?? '',
        content_type: out.content_type ?? '',
        total_bytes: bytes.byteLength,
        hash,
      },
    });
    let seq = 0;
    for (let offset = 0; offset < bytes.byteLength; offset += chunkSize) {
      connection.send({
        stream_chunk: { stream_id: streamId, seq: seq++, data: bytes.subarray(offset, offset + chunkSize) },
      });
    }
    countCopy('out:arena-to-frame', bytes.byteLength);
    connection.send({
      stream_end: { stream_id: streamId, status: 'ok', chunks: seq, total_bytes: bytes.byteLength },
    });
    outputs.push({
      name: out.name ?? '',
      content_type: out.content_type ?? '',
      uri: `stream:${streamId}`,
      size: bytes.byteLength,
      hash,
      ...(out.tensor ? { tensor: out.tensor } : {}),
    });
  }
  const sent = connection.send({ result: { ...result, outputs } });
  if (sent && inline > 0) countCopy('out:arena-to-frame', inline);
  return sent;
}

/** The results that ride in a hello: as many as fit half a frame, oldest first. */
export function fitsInline(result: ComputeResult, budget: { left: number }): boolean {
  const size = (result.outputs ?? []).reduce((sum, o) => sum + (o.inline_bytes?.byteLength ?? 0), 0) + 1024;
  if (size > budget.left) return false;
  budget.left -= size;
  return true;
}
