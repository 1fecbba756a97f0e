// A framed Cap'n Proto message's segment table, checked before capnp-es sees the bytes, the
// traversal limit capnp-es gets for them, and what it throws on hostile bytes as a ProtocolError.
import { Message } from 'capnp-es';
import type { DecodeLimits } from './limits.ts';
import { ProtocolError } from './protocol-error.ts';

/**
 * Checks the segment table of a framed message before capnp-es sees it: capnp-es would allocate
 * an array as long as the claimed segment count, so a 4-byte header could ask for 2^32 slots.
 */
export function checkFraming(bytes: Uint8Array, limits: DecodeLimits): void {
  if (bytes.length > limits.maxFrameBytes) {
    throw new ProtocolError(
      'FRAME_TOO_LARGE',
      `frame of ${bytes.length} bytes exceeds ${limits.maxFrameBytes}`,
    );
  }
  if (bytes.length < 8) throw new ProtocolError('FRAME_TOO_SHORT', 'a frame is at least 8 bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const segments = view.getUint32(0, true) + 1;
  if (segments > limits.maxSegments) {
    throw new ProtocolError('TOO_MANY_SEGMENTS', `${segments} segments exceed ${limits.maxSegments}`);
  }
  let offset = 4 + segments * 4;
  offset += offset % 8;
  if (offset > bytes.length) throw new ProtocolError('MALFORMED_FRAME', 'segment table is truncated');
  let total = offset;
  for (let i = 0; i < segments; i++) total += view.getUint32(4 + i * 4, true) * 8;
  if (total !== bytes.length) {
    throw new ProtocolError(
      'MALFORMED_FRAME',
      `segment table claims ${total} bytes, frame has ${bytes.length}`,
    );
  }
}

/** Opens a framed message with the traversal limit set explicitly from its size. */
export function openMessage(bytes: Uint8Array, limits: DecodeLimits): Message {
  checkFraming(bytes, limits);
  const message = new Message(bytes, false);
  // capnp-es charges 8 units per pointer it constructs; allow traversalPerByte pointers per byte.
  (message as unknown as { _capnp: { traversalLimit: number } })._capnp.traversalLimit =
    8 * (64 + limits.traversalPerByte * bytes.length);
  return message;
}

/** Maps anything capnp-es throws on hostile bytes to a ProtocolError. */
export function asProtocolError(error: unknown): ProtocolError {
  if (error instanceof ProtocolError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes('CAPNP-TS022'))
    return new ProtocolError('TRAVERSAL_LIMIT', 'decoding traversal limit exceeded');
  if (message.includes('CAPNP-TS011'))
    return new ProtocolError('NESTING_TOO_DEEP', 'pointer nesting too deep');
  if (error instanceof RangeError && /call stack/i.test(message)) {
    return new ProtocolError('NESTING_TOO_DEEP', 'pointer nesting too deep');
  }
  return new ProtocolError('MALFORMED_FRAME', `malformed Cap'n Proto message: ${message.slice(0, 200)}`);
}
