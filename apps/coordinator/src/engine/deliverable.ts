import { type ComputeEnvelope, encodeFrame, makeFrame, ProtocolError } from '@flock/protocol';
import { CoordinatorError } from '../errors.ts';

/**
 * Stand-ins at least as long as what an assignment adds around its envelope: lease id, worker id,
 * task token (`hmac:` + 43), frame id, timestamps, and room for a trace (correlation_id ≤ 128,
 * span ids 16) and metadata (tenant ≤ 128; the campaign id is the envelope's own, whatever its
 * length).
 */
const PAD = 'x'.repeat(128);
const frameExtras = (envelope: ComputeEnvelope) => ({
  id: PAD.slice(0, 64),
  ts: PAD.slice(0, 64),
  trace: { correlation_id: PAD, span_id: PAD, parent_id: PAD },
  metadata: { campaign_id: envelope.campaign_id ?? '', tenant: PAD, user_id: PAD },
});

/** The size in bytes of the assignment frame that would carry `envelope` (an upper bound). */
export function assignmentFrameBytes(envelope: ComputeEnvelope, limit = 64 << 20): number {
  const frame = makeFrame(
    {
      assignment: {
        task_id: envelope.task_id ?? '',
        worker_id: PAD.slice(0, 64),
        lease_id: PAD,
        lease_expires_at_ms: Number.MAX_SAFE_INTEGER,
        attempt: 0xffffffff,
        task_token: PAD,
        envelope,
      },
    },
    frameExtras(envelope),
  );
  return encodeFrame(frame, { maxFrameBytes: limit }).length;
}

/**
 * Cap'n Proto takes at most this many bytes per byte of an envelope's JSON view (an empty struct,
 * `{}`, costs 2 JSON bytes and up to ~80 wire bytes, but a schema has few of them; repeated
 * elements, whose count is unbounded, cost at most ~4x). Envelopes this far under the limit skip
 * the exact encoding, which the property test of deliverability checks.
 */
const WIRE_PER_JSON_BYTE = 8;
/** Fixed wire overhead of an assignment frame beyond its envelope's share, bytes. */
const FRAME_OVERHEAD = 64 << 10;

/**
 * Refuses at submit what no volunteer could be sent: an envelope whose assignment frame would be
 * larger than `maxFrameBytes` (the frame limit tabs are told), typically for inline inputs that
 * belong in an uploaded blob. `jsonBytes` is the size of the envelope's JSON view; `field` the
 * envelope's path in the request (`tasks[3]` in a campaign). Throws 413 TASK_TOO_LARGE.
 */
export function checkDeliverable(
  envelope: ComputeEnvelope,
  jsonBytes: number,
  maxFrameBytes: number,
  field?: string,
): void {
  if (jsonBytes * WIRE_PER_JSON_BYTE + FRAME_OVERHEAD <= maxFrameBytes) return;
  let size: number;
  try {
    size = assignmentFrameBytes(envelope, 1 << 30);
  } catch (err) {
    if (err instanceof ProtocolError) {
      const at = [field, err.field].filter(Boolean).join('.');
      throw new CoordinatorError('INVALID_ARGUMENT', err.message, at || undefined);
    }
    throw err;
  }
  if (size <= maxFrameBytes) return;
  let largest: { index: number; bytes: number } | undefined;
  for (const [index, input] of (envelope.inputs ?? []).entries()) {
    const bytes = input.inline_bytes?.length ?? input.inline_json?.length ?? 0;
    if (bytes > (largest?.bytes ?? 0)) largest = { index, bytes };
  }
  const prefix = field ? `${field}.` : '';
  throw new CoordinatorError(
    'TASK_TOO_LARGE',
    `the task's assignment would be ${size} bytes, over the ${maxFrameBytes}-byte frame limit: ` +
      'upload large inputs with POST /v1/blobs and reference them as "uri": "flock:sha256:<hex>"',
    largest ? `${prefix}inputs[${largest.index}]` : field,
  );
}
