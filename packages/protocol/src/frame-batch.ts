// Several frames in one WebSocket message: framed Cap'n Proto messages laid end to end (each
// segment table says where its frame ends). Only between peers whose capability says so
// (`batch_frames` > 1); a message of one frame is the same bytes as before.

import { decodeFrame } from './frame-codec.ts';
import type { Frame } from './generated/model.ts';
import { type DecodeLimits, resolveLimits } from './limits.ts';
import { ProtocolError } from './protocol-error.ts';

/** Most frames one message may carry, whatever a capability advertises. */
export const MAX_BATCH_FRAMES = 64;

/**
 * Splits a message into its frames' bytes (views, not copies) after checking the message against
 * `limits.maxFrameBytes`, each frame's segment count, and `maxFrames`. Each frame is then decoded
 * on its own, under the same limits: the traversal budget of a frame follows its size, so a
 * message's total stays within what one frame of the message's size may cost (plus 64 units a
 * frame). Throws ProtocolError FRAME_TOO_LARGE, TOO_MANY_FRAMES, TOO_MANY_SEGMENTS or
 * MALFORMED_FRAME.
 */
export function splitFrames(
  bytes: Uint8Array,
  limits?: Partial<DecodeLimits>,
  maxFrames = MAX_BATCH_FRAMES,
): Uint8Array[] {
  const resolved = resolveLimits(limits);
  if (bytes.length > resolved.maxFrameBytes) {
    throw new ProtocolError(
      'FRAME_TOO_LARGE',
      `message of ${bytes.length} bytes exceeds ${resolved.maxFrameBytes}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (frames.length >= maxFrames) {
      throw new ProtocolError('TOO_MANY_FRAMES', `a message carries at most ${maxFrames} frames`);
    }
    if (bytes.length - at < 8)
      throw new ProtocolError('MALFORMED_FRAME', `frame ${frames.length} is truncated`);
    const segments = view.getUint32(at, true) + 1;
    if (segments > resolved.maxSegments) {
      throw new ProtocolError('TOO_MANY_SEGMENTS', `${segments} segments exceed ${resolved.maxSegments}`);
    }
    let end = 4 + segments * 4;
    end += end % 8;
    if (at + end > bytes.length)
      throw new ProtocolError('MALFORMED_FRAME', `frame ${frames.length} is truncated`);
    for (let i = 0; i < segments; i++) end += view.getUint32(at + 4 + i * 4, true) * 8;
    if (at + end > bytes.length)
      throw new ProtocolError('MALFORMED_FRAME', `frame ${frames.length} is truncated`);
    // A message of one frame (most, from a volunteer with one result to send) is that frame.
    if (at === 0 && end === bytes.length) return [bytes];
    frames.push(bytes.subarray(at, at + end));
    at += end;
  }
  if (frames.length === 0) throw new ProtocolError('FRAME_TOO_SHORT', 'a frame is at least 8 bytes');
  return frames;
}

/** Decodes every frame of a message (see `splitFrames`). Throws only ProtocolError. */
export function decodeFrames(
  bytes: Uint8Array,
  limits?: Partial<DecodeLimits>,
  maxFrames = MAX_BATCH_FRAMES,
): Frame[] {
  const resolved = resolveLimits(limits);
  return splitFrames(bytes, resolved, maxFrames).map((frame) => decodeFrame(frame, resolved));
}

/** One message of encoded frames, in order (the frame itself when there is one). */
export function joinFrames(frames: readonly Uint8Array[]): Uint8Array {
  if (frames.length === 1) return frames[0]!;
  let size = 0;
  for (const frame of frames) size += frame.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const frame of frames) {
    out.set(frame, at);
    at += frame.length;
  }
  return out;
}
