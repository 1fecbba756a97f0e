import { describe, expect, test } from 'vitest';
import {
  DEFAULT_LIMITS,
  decodeFrame,
  decodeMessage,
  EVENTS,
  encodeFrame,
  encodeMessage,
  type Frame,
  makeFrame,
  ProtocolError,
  type ProtocolErrorCode,
  payloadKind,
  readRouting,
  uuid,
} from '../src/index.ts';

function codeOf(fn: () => unknown): ProtocolErrorCode | 'no error' | 'not a ProtocolError' {
  try {
    fn();
    return 'no error';
  } catch (error) {
    return error instanceof ProtocolError ? error.code : 'not a ProtocolError';
  }
}

const assignmentFrame = (): Frame =>
  makeFrame(
    {
      assignment: {
        task_id: 'task-7',
        worker_id: 'w-1',
        lease_id: 'lease-9',
        lease_expires_at_ms: 1_790_000_000_000,
        attempt: 2,
        task_token: 'hmac:abc',
        envelope: {
          task_id: 'task-7',
          op: 'sum',
          module: {
            kind: 'wasm',
            inline: new Uint8Array([0, 97, 115, 109]),
            permissions: { timeout_ms: 5000 },
          },
          requirements: { min: { wasm: true } },
          inputs: [{ name: 'xs', inline_bytes: new Uint8Array([1, 2, 3, 4]) }],
          params: { n: 4 },
        },
      },
    },
    { metadata: { tenant: 'acme', campaign_id: 'c1' }, trace: { correlation_id: 'corr-1' } },
  );

describe('round trip', () => {
  test('an assignment frame decodes to the same object', () => {
    const frame = assignmentFrame();
    expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
  });

  test('frame ids are UUID v4 and distinct across refills of the random pool', () => {
    const ids = Array.from({ length: 1000 }, () => uuid());
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(1000);
    expect(makeFrame({ heartbeat: { seq: 1 } }).id).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('makeFrame fills the event name, type and schema of the seed table', () => {
    expect(assignmentFrame()).toMatchObject({
      type: 'job',
      topic: EVENTS.accepted,
      schema: 'flock.v1.ComputeAssignment',
    });
    expect(makeFrame({ result: { task_id: 't' } })).toMatchObject({
      type: 'job_result',
      topic: EVENTS.success,
    });
    expect(makeFrame({ failure: { task_id: 't' } }).topic).toBe(EVENTS.failed);
    expect(makeFrame({ progress: { task_id: 't', pct: 5 } }).topic).toBe(EVENTS.progress);
    expect(makeFrame({ capability: { wasm: true } }).topic).toBe(EVENTS.capabilities);
    expect(makeFrame({ heartbeat: { seq: 1 } })).toMatchObject({
      type: 'control',
      topic: 'flock:worker:v1:heartbeat',
    });
    expect(makeFrame({ stream_chunk: { seq: 0 } }).type).toBe('stream_chunk');
    expect(payloadKind({ cancel_ack: { lease_id: 'l' } })).toBe('cancel_ack');
    expect(payloadKind({} as never)).toBe('none');
    expect(() => makeFrame({} as never)).toThrow(expect.objectContaining({ code: 'PAYLOAD_MISSING' }));
  });

  test('readRouting reads type, topic, payload kind and task_id without a full decode', () => {
    expect(readRouting(encodeFrame(assignmentFrame()))).toEqual({
      type: 'job',
      topic: EVENTS.accepted,
      payload: 'assignment',
      task_id: 'task-7',
    });
    expect(readRouting(encodeFrame(makeFrame({ heartbeat: { seq: 3 } })))).toMatchObject({
      payload: 'heartbeat',
      task_id: '',
    });
  });

  test('a bare message round-trips through encodeMessage/decodeMessage', () => {
    const record = {
      kind: 'result' as const,
      job_id: 5,
      task_id: 't',
      slices: [{ name: 'out', offset: 64, length: 12 }],
    };
    expect(decodeMessage('BridgeRecord', encodeMessage('BridgeRecord', record))).toEqual(record);
  });
});

describe('decode limits, each with its code', () => {
  test('frame over maxFrameBytes → FRAME_TOO_LARGE (decode and encode)', () => {
    const big = makeFrame({
      stream_chunk: { stream_id: 's', seq: 0, data: new Uint8Array(DEFAULT_LIMITS.maxFrameBytes) },
    });
    expect(codeOf(() => encodeFrame(big))).toBe('FRAME_TOO_LARGE');
    const bytes = encodeFrame(big, { maxFrameBytes: 4 << 20 });
    expect(codeOf(() => decodeFrame(bytes))).toBe('FRAME_TOO_LARGE');
    expect(decodeFrame(bytes, { maxFrameBytes: 4 << 20 }).payload).toHaveProperty('stream_chunk');
  });

  test('fewer than 8 bytes → FRAME_TOO_SHORT', () => {
    expect(codeOf(() => decodeFrame(new Uint8Array(7)))).toBe('FRAME_TOO_SHORT');
  });

  test('a segment count claim of 2^32 → TOO_MANY_SEGMENTS, before any allocation', () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setUint32(0, 0xffffffff, true);
    expect(codeOf(() => decodeFrame(bytes))).toBe('TOO_MANY_SEGMENTS');
  });

  test('a segment table that disagrees with the length → MALFORMED_FRAME', () => {
    const bytes = encodeFrame(assignmentFrame());
    expect(codeOf(() => decodeFrame(bytes.subarray(0, bytes.length - 8)))).toBe('MALFORMED_FRAME');
    const padded = new Uint8Array(bytes.length + 8);
    padded.set(bytes);
    expect(codeOf(() => decodeFrame(padded))).toBe('MALFORMED_FRAME');
  });

  test('pointer-chasing beyond the traversal budget → TRAVERSAL_LIMIT', () => {
    const bytes = encodeFrame(assignmentFrame());
    expect(codeOf(() => decodeFrame(bytes, { traversalPerByte: 0.01 }))).toBe('TRAVERSAL_LIMIT');
  });

  test('struct nesting beyond maxDepth → NESTING_TOO_DEEP', () => {
    // frame → payload group → assignment → envelope → module → permissions is 5 levels below root.
    const bytes = encodeFrame(assignmentFrame());
    expect(codeOf(() => decodeFrame(bytes, { maxDepth: 4 }))).toBe('NESTING_TOO_DEEP');
    expect(codeOf(() => decodeFrame(bytes, { maxDepth: 5 }))).toBe('no error');
  });

  test('a list claiming more elements than the budget → LIST_TOO_LONG', () => {
    const bytes = encodeFrame(
      makeFrame({ envelope: { task_id: 't', module: { kind: 'wgsl', workgroups: [7] } } }),
    );
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    // The workgroups pointer: a list (tag 1) of one four-byte element (size code 4, count 1).
    let at = -1;
    for (let i = 8; i < bytes.length; i += 8) {
      if ((view.getUint32(i, true) & 3) === 1 && view.getUint32(i + 4, true) === ((1 << 3) | 4)) at = i;
    }
    expect(at).toBeGreaterThan(0);
    const budget = 64 + DEFAULT_LIMITS.traversalPerByte * bytes.length;
    const claim = (count: number, size: number): Uint8Array => {
      const copy = bytes.slice();
      new DataView(copy.buffer).setUint32(at + 4, ((count << 3) | size) >>> 0, true);
      return copy;
    };
    // Zero-width (VOID) elements cost no bytes to claim; only the element budget stops them.
    expect(codeOf(() => decodeFrame(claim(budget + 1, 0)))).toBe('LIST_TOO_LONG');
    expect(codeOf(() => decodeFrame(claim(2 ** 29 - 1, 0)))).toBe('LIST_TOO_LONG');
    // Within the budget the wrong element size is what is refused.
    expect(codeOf(() => decodeFrame(claim(3, 0)))).toBe('MALFORMED_FRAME');
  });

  test('a UInt64 above 2^53 → VALUE_OUT_OF_RANGE', () => {
    const bytes = encodeMessage('Welcome', { server_time_ms: 1 });
    // Welcome's data section: heartbeatMs, leaseMs, maxFrameBytes (u32), resumed (bit), serverTimeMs (u64 at byte 16).
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const dataStart = 8 + 8; // segment table (8) + root pointer (8)
    expect(view.getBigUint64(dataStart + 16, true)).toBe(1n);
    view.setBigUint64(dataStart + 16, 2n ** 60n, true);
    expect(codeOf(() => decodeMessage('Welcome', bytes))).toBe('VALUE_OUT_OF_RANGE');
  });

  test('an enum ordinal the schema does not know → UNKNOWN_ENUM', () => {
    const bytes = encodeFrame(makeFrame({ heartbeat: { seq: 1 } }));
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    // Frame.type is the first UInt16 of the root's data section.
    expect(view.getUint16(16, true)).toBe(6); // control
    view.setUint16(16, 99, true);
    expect(codeOf(() => decodeFrame(bytes))).toBe('UNKNOWN_ENUM');
    expect(codeOf(() => readRouting(bytes))).toBe('UNKNOWN_ENUM');
  });

  test('a frame without payload → PAYLOAD_MISSING', () => {
    const bytes = encodeMessage('Frame', { id: 'x', topic: 't' });
    expect(codeOf(() => decodeFrame(bytes))).toBe('PAYLOAD_MISSING');
  });

  test('params text that is not JSON → INVALID_JSON; a __proto__ key on the wire → FORBIDDEN_KEY', () => {
    const withParams = (params: string): Uint8Array => {
      // Encode with a placeholder of the same length, then swap the bytes in place.
      const placeholder = `{"a":"${'x'.repeat(params.length - 8)}"}`;
      const bytes = encodeMessage('ComputeEnvelope', { task_id: 't', params: JSON.parse(placeholder) });
      const at = Buffer.from(bytes).indexOf(placeholder);
      bytes.set(new TextEncoder().encode(params), at);
      return bytes;
    };
    expect(codeOf(() => decodeMessage('ComputeEnvelope', withParams('{"a":[1,2,]}')))).toBe('INVALID_JSON');
    expect(codeOf(() => decodeMessage('ComputeEnvelope', withParams('{"__proto__":1}')))).toBe(
      'FORBIDDEN_KEY',
    );
  });

  test('garbage after a valid header → only ProtocolError', () => {
    const bytes = encodeFrame(assignmentFrame());
    for (let i = 8; i < bytes.length; i += 3) {
      const copy = bytes.slice();
      copy[i] = 0xff - copy[i]!;
      const code = codeOf(() => decodeFrame(copy));
      expect(code).not.toBe('not a ProtocolError');
    }
  });
});

describe('encoding refuses wrong shapes with the field path', () => {
  test('DataRef with two bodies → NOT_EXCLUSIVE at the second', () => {
    let caught: ProtocolError | undefined;
    try {
      encodeMessage('DataRef', { name: 'a', uri: 'x', inline_json: '1' });
    } catch (error) {
      caught = error as ProtocolError;
    }
    expect(caught?.code).toBe('NOT_EXCLUSIVE');
    expect(caught?.field).toBe('uri');
  });

  test('a string where an integer belongs → WRONG_TYPE; out of range → VALUE_OUT_OF_RANGE', () => {
    expect(codeOf(() => encodeMessage('Qos', { retries: 'three' as never }))).toBe('WRONG_TYPE');
    expect(codeOf(() => encodeMessage('Qos', { retries: -1 }))).toBe('VALUE_OUT_OF_RANGE');
    expect(codeOf(() => encodeMessage('ModuleSpec', { kind: 'python' as never }))).toBe('UNKNOWN_ENUM');
  });
});

describe('text and float edge cases', () => {
  test('an empty selected union member survives the round trip (body "" is still a body)', () => {
    const ref = { name: 'x', inline_json: '' };
    expect(decodeMessage('DataRef', encodeMessage('DataRef', ref))).toEqual(ref);
    expect(
      decodeMessage('DataRef', encodeMessage('DataRef', { name: 'y', inline_bytes: new Uint8Array(0) })),
    ).toEqual({
      name: 'y',
      inline_bytes: new Uint8Array(0),
    });
  });

  test('dataViews: Data fields are views into the decoded bytes (decoding in place), copies by default', () => {
    const bytes = encodeMessage('DataRef', { name: 'x', inline_bytes: new Uint8Array([7, 8, 9]) });
    const copied = decodeMessage('DataRef', bytes).inline_bytes!;
    const viewed = decodeMessage('DataRef', bytes, { dataViews: true }).inline_bytes!;
    expect([...viewed]).toEqual([7, 8, 9]);
    expect(viewed.buffer).toBe(bytes.buffer);
    expect(copied.buffer).not.toBe(bytes.buffer);
    bytes[viewed.byteOffset] = 42;
    expect(viewed[0]).toBe(42);
    expect(copied[0]).toBe(7);
  });

  test('a lone surrogate → WRONG_TYPE instead of a silent U+FFFD', () => {
    expect(codeOf(() => encodeMessage('ComputeCancelled', { task_id: 'a\ud800' }))).toBe('WRONG_TYPE');
    expect(
      decodeMessage('ComputeCancelled', encodeMessage('ComputeCancelled', { task_id: 'a\u{1f600}' })),
    ).toEqual({
      task_id: 'a\u{1f600}',
    });
  });

  test('invalid UTF-8 on the wire → INVALID_TEXT naming the field (the rule for text at the edge)', () => {
    const bytes = encodeMessage('ComputeCancelled', { task_id: 'abc' });
    const at = Buffer.from(bytes).indexOf('abc');
    bytes[at + 1] = 0xff;
    expect(codeOf(() => decodeMessage('ComputeCancelled', bytes))).toBe('INVALID_TEXT');
    const err = (() => {
      try {
        decodeMessage('ComputeCancelled', bytes);
      } catch (e) {
        return e as { field?: string };
      }
    })();
    expect(err?.field).toBe('task_id');
  });

  test('a Float32 that overflows → VALUE_OUT_OF_RANGE; NaN on the wire → VALUE_OUT_OF_RANGE', () => {
    expect(codeOf(() => encodeMessage('Battery', { level: 1e300 }))).toBe('VALUE_OUT_OF_RANGE');
    const bytes = encodeMessage('Battery', { level: 0.5 });
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    // Battery: charging (bit 0), level (Float32 at byte 4 of the data section, which starts at 16).
    expect(view.getFloat32(16 + 4, true)).toBe(0.5);
    view.setFloat32(16 + 4, Number.NaN, true);
    expect(codeOf(() => decodeMessage('Battery', bytes))).toBe('VALUE_OUT_OF_RANGE');
  });
});
