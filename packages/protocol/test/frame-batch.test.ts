import { describe, expect, test } from 'vitest';
import {
  decodeFrame,
  decodeFrames,
  encodeFrame,
  type Frame,
  joinFrames,
  MAX_BATCH_FRAMES,
  makeFrame,
  ProtocolError,
  type ProtocolErrorCode,
  splitFrames,
} from '../src/index.ts';

function codeOf(fn: () => unknown): ProtocolErrorCode | 'no error' | 'not a ProtocolError' {
  try {
    fn();
    return 'no error';
  } catch (error) {
    return error instanceof ProtocolError ? error.code : 'not a ProtocolError';
  }
}

const ack = (i: number): Frame =>
  makeFrame({
    result_ack: { task_id: `task-${i}`, lease_id: `lease-${i}`, accepted: i % 2 === 0, code: '' },
  });
const hb = (ids: string[]): Frame => makeFrame({ heartbeat: { seq: 3, lease_ids: ids } });

describe('batched frames', () => {
  test('frames joined into one message split and decode back to the same frames, in order', () => {
    const frames = [ack(0), hb(['a', 'b']), ack(1)];
    const encoded = frames.map((f) => encodeFrame(f));
    const message = joinFrames(encoded);
    expect(message.length).toBe(encoded[0]!.length + encoded[1]!.length + encoded[2]!.length);
    const parts = splitFrames(message);
    expect(parts.map((p) => p.length)).toEqual(encoded.map((e) => e.length));
    expect(decodeFrames(message)).toEqual(frames.map((f) => decodeFrame(encodeFrame(f))));
    expect(decodeFrames(message)[1]!.payload).toEqual({ heartbeat: { seq: 3, lease_ids: ['a', 'b'] } });
  });

  test('a message of one frame is that frame, and decodes as before', () => {
    const one = encodeFrame(ack(4));
    expect(joinFrames([one])).toBe(one);
    expect(decodeFrames(one)).toEqual([decodeFrame(one)]);
  });

  test(`at most ${MAX_BATCH_FRAMES} frames a message, or a given fewer`, () => {
    const one = encodeFrame(ack(1));
    const full = joinFrames(Array.from({ length: MAX_BATCH_FRAMES }, () => one));
    expect(splitFrames(full)).toHaveLength(MAX_BATCH_FRAMES);
    expect(codeOf(() => splitFrames(joinFrames([full, one])))).toBe('TOO_MANY_FRAMES');
    expect(codeOf(() => splitFrames(joinFrames([one, one, one]), undefined, 2))).toBe('TOO_MANY_FRAMES');
  });

  test('the message as a whole is held to the frame size limit', () => {
    const one = encodeFrame(ack(1));
    const message = joinFrames([one, one, one]);
    expect(codeOf(() => splitFrames(message, { maxFrameBytes: message.length }))).toBe('no error');
    expect(codeOf(() => decodeFrames(message, { maxFrameBytes: message.length - 1 }))).toBe(
      'FRAME_TOO_LARGE',
    );
  });

  test('truncated, empty, padded or hostile batches are typed errors', () => {
    const one = encodeFrame(ack(1));
    const two = joinFrames([one, one]);
    expect(codeOf(() => splitFrames(two.subarray(0, two.length - 8)))).toBe('MALFORMED_FRAME');
    expect(codeOf(() => splitFrames(joinFrames([one, new Uint8Array(4)])))).toBe('MALFORMED_FRAME');
    expect(codeOf(() => splitFrames(new Uint8Array(0)))).toBe('FRAME_TOO_SHORT');
    // A second frame claiming 2^32 segments, and one whose segment table runs past the end.
    const many = new Uint8Array(16);
    new DataView(many.buffer).setUint32(0, 0xffffffff, true);
    expect(codeOf(() => splitFrames(joinFrames([one, many])))).toBe('TOO_MANY_SEGMENTS');
    const huge = new Uint8Array(8);
    new DataView(huge.buffer).setUint32(4, 0x7fffffff, true);
    expect(codeOf(() => splitFrames(joinFrames([one, huge])))).toBe('MALFORMED_FRAME');
    // Well framed but not a frame inside: the item's decode fails like a lone frame's would.
    const garbage = new Uint8Array(16);
    new DataView(garbage.buffer).setUint32(4, 1, true);
    new DataView(garbage.buffer).setUint32(8, 0xdeadbeef, true);
    const lone = codeOf(() => decodeFrame(garbage));
    expect(lone).not.toBe('no error');
    expect(codeOf(() => decodeFrames(joinFrames([one, garbage])))).toBe(lone);
  });

  test('each frame of a batch keeps its own decoding limits (segments, traversal)', () => {
    const big = encodeFrame(hb(Array.from({ length: 200 }, (_, i) => `lease-${i}`)));
    const message = joinFrames([encodeFrame(ack(1)), big]);
    expect(decodeFrames(message)[1]!.payload).toEqual({
      heartbeat: { seq: 3, lease_ids: Array.from({ length: 200 }, (_, i) => `lease-${i}`) },
    });
    // A traversal budget too small for the list fails the message, as it fails the frame alone.
    expect(codeOf(() => decodeFrame(big, { traversalPerByte: 0 }))).toBe('TRAVERSAL_LIMIT');
    expect(codeOf(() => decodeFrames(message, { traversalPerByte: 0 }))).toBe('TRAVERSAL_LIMIT');
  });

  test('a capability advertises how many frames a message may carry', () => {
    const frame = makeFrame({ capability: { wasm: true, cpu_slots: 2, batch_frames: 32 } });
    const back = decodeFrame(encodeFrame(frame));
    expect(back.payload).toEqual({ capability: expect.objectContaining({ batch_frames: 32, cpu_slots: 2 }) });
  });
});
