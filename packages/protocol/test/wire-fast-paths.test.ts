// The direct codec's fast paths (#17's throughput): messages written into one reused scratch
// buffer, and short ASCII texts written and read by hand instead of through TextEncoder and
// TextDecoder. Each must give exactly the bytes and values the reference (capnp-es) gives, and
// the same refusals. The JSON view's per-struct lookups are built once per struct, not per object.
import { describe, expect, test } from 'vitest';
import { encodeFrame, encodeFrameView, makeFrame } from '../src/frame-codec.ts';
import { fromJson } from '../src/json-view.ts';
import { DEFAULT_LIMITS, resolveLimits } from '../src/limits.ts';
import { decodeMessage, encodeMessage } from '../src/message-codec.ts';
import { ProtocolError } from '../src/protocol-error.ts';
import { referenceDecode, referenceEncode } from '../src/reference-codec.ts';

/** A result whose texts and data fill most of its words with non-zero bytes. */
function busyResult(): Record<string, unknown> {
  return {
    task_id: 'x'.repeat(200),
    lease_id: 'é'.repeat(80),
    task_token: 'k'.repeat(63),
    executor: 'executor-with-a-long-name',
    duration_ms: 2 ** 40,
    outputs: [
      { name: 'a'.repeat(64), inline_bytes: new Uint8Array(300).fill(0xff) },
      { name: 'b', inline_json: JSON.stringify({ v: 'z'.repeat(100) }) },
    ],
  };
}

describe('the reused scratch buffer', () => {
  test('a small message written after a large one is exactly what capnp-es writes', () => {
    const small = { task_id: 't', outputs: [{ name: 'n' }] };
    const fresh = encodeMessage('ComputeResult', small as never);
    encodeMessage('ComputeResult', busyResult() as never);
    const after = encodeMessage('ComputeResult', small as never);
    expect(Buffer.from(after).equals(Buffer.from(fresh))).toBe(true);
    // capnp-es lays the message out the same way: word for word.
    expect(Buffer.from(after).equals(Buffer.from(referenceEncode('ComputeResult', small as never)))).toBe(
      true,
    );
  });

  test('each message owns its bytes: a later encode does not change an earlier one', () => {
    const first = encodeMessage('ComputeResult', { task_id: 'first' } as never);
    const copy = Buffer.from(first);
    encodeMessage('ComputeResult', busyResult() as never);
    expect(Buffer.from(first).equals(copy)).toBe(true);
    expect(first.byteOffset).toBe(0);
    expect(first.buffer.byteLength).toBe(first.length);
  });

  test('a message larger than the scratch buffer, and one after a refused write, come out right', () => {
    const big = { task_id: 'big', outputs: [{ name: 'o', inline_bytes: new Uint8Array(100_000).fill(7) }] };
    const bytes = encodeMessage('ComputeResult', big as never);
    expect(referenceDecode('ComputeResult', bytes)).toStrictEqual(decodeMessage('ComputeResult', bytes));
    expect((decodeMessage('ComputeResult', bytes) as typeof big).outputs[0]!.inline_bytes).toEqual(
      big.outputs[0]!.inline_bytes,
    );
    expect(() => encodeMessage('ComputeResult', { task_id: 7 } as never)).toThrow(ProtocolError);
    const small = { task_id: 'after' };
    expect(
      Buffer.from(encodeMessage('ComputeResult', small as never)).equals(
        Buffer.from(referenceEncode('ComputeResult', small as never)),
      ),
    ).toBe(true);
  });
});

describe('short texts', () => {
  const texts = [
    'a',
    'x'.repeat(64),
    'y'.repeat(65),
    `${'a'.repeat(63)}é`,
    'é',
    '日本語',
    '\u0000inner nul',
    '😀',
    '\u007f',
  ];

  test.each(texts)('%j is written as capnp-es writes it and read back as itself', (text) => {
    const message = { task_id: text };
    const bytes = encodeMessage('ComputeResult', message as never);
    expect(Buffer.from(bytes).equals(Buffer.from(referenceEncode('ComputeResult', message as never)))).toBe(
      true,
    );
    expect((decodeMessage('ComputeResult', bytes) as { task_id: string }).task_id).toBe(text);
  });

  test('a short text with a lone surrogate is refused (WRONG_TYPE)', () => {
    expect(() => encodeMessage('ComputeResult', { task_id: 'ab\ud800' } as never)).toThrow(
      expect.objectContaining({ code: 'WRONG_TYPE', field: 'task_id' }),
    );
  });

  test('short text bytes that are not UTF-8 are refused (INVALID_TEXT)', () => {
    const bytes = encodeMessage('ComputeResult', { task_id: 'abcd' } as never);
    const at = Buffer.from(bytes).indexOf('abcd');
    bytes[at + 1] = 0xff;
    expect(() => decodeMessage('ComputeResult', bytes)).toThrow(
      expect.objectContaining({ code: 'INVALID_TEXT', field: 'task_id' }),
    );
  });
});

describe('the JSON view with its lookups built once', () => {
  test('objects come out plain, nested structs included, the same on every call', () => {
    const json = {
      task_id: 't',
      op: 'sum',
      module: { kind: 'builtin' },
      inputs: [{ name: 'x', inline_bytes: 'AQID' }],
    };
    for (let i = 0; i < 3; i++) {
      const envelope = fromJson('ComputeEnvelope', json);
      expect(Object.getPrototypeOf(envelope)).toBe(Object.prototype);
      expect(Object.getPrototypeOf(envelope.module)).toBe(Object.prototype);
      expect(envelope).toStrictEqual({
        task_id: 't',
        op: 'sum',
        module: { kind: 'builtin' },
        inputs: [{ name: 'x', inline_bytes: new Uint8Array([1, 2, 3]) }],
      });
    }
  });

  test('a __proto__ or constructor key is an unknown field, and nothing is polluted', () => {
    const hostile = JSON.parse('{"task_id":"t","module":{"kind":"builtin","__proto__":{"polluted":1}}}');
    expect(() => fromJson('ComputeEnvelope', hostile)).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_FIELD', field: 'module.__proto__' }),
    );
    expect(() => fromJson('ComputeEnvelope', { task_id: 't', constructor: 'x' })).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_FIELD', field: 'constructor' }),
    );
    expect(({} as { polluted?: number }).polluted).toBeUndefined();
  });

  test("a union's members are still exclusive; a flattened group's members are left to validation", () => {
    expect(() =>
      fromJson('Frame', { payload: { heartbeat: { seq: 1 }, progress: { task_id: 'x' } } }),
    ).toThrow(expect.objectContaining({ code: 'NOT_EXCLUSIVE', field: 'payload.progress' }));
    // DataRef's body is a flattened group: the JSON view takes both (validateEnvelope refuses).
    expect(fromJson('DataRef', { name: 'x', inline_bytes: 'AQID', uri: 'https://e.com/x' })).toStrictEqual({
      name: 'x',
      inline_bytes: new Uint8Array([1, 2, 3]),
      uri: 'https://e.com/x',
    });
  });
});

describe('field paths worked out only when needed', () => {
  /** Frame bytes whose two encodings (differing in one enum) differ at exactly one byte. */
  function enumOffset(name: 'Frame', a: object, b: object): number {
    const x = encodeMessage(name, a as never);
    const y = encodeMessage(name, b as never);
    const at = x.findIndex((v, i) => v !== y[i]);
    expect(x.findIndex((v, i) => i > at && v !== y[i])).toBe(-1);
    return at;
  }

  test('a bad enum ordinal names its field, at the root and nested', () => {
    const base = { id: 'i', topic: 't', payload: { heartbeat: { seq: 1 } } };
    const at = enumOffset('Frame', { ...base, type: 'event' }, { ...base, type: 'job' });
    const bytes = encodeMessage('Frame', { ...base, type: 'event' } as never);
    bytes[at] = 0xee;
    expect(() => decodeMessage('Frame', bytes)).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_ENUM', field: 'type' }),
    );
    const result = { task_id: 't', outputs: [{ name: 'o', inline_json: '1' }] };
    const withKind = (kind: string): object => ({
      ...base,
      type: 'job',
      payload: { assignment: { task_id: 't', envelope: { task_id: 't', module: { kind } } } },
    });
    const x = encodeMessage('Frame', withKind('wasm') as never);
    const y = encodeMessage('Frame', withKind('builtin') as never);
    const diff = x.findIndex((v, i) => v !== y[i]);
    x[diff] = 0xee;
    expect(() => decodeMessage('Frame', x)).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_ENUM', field: 'payload.assignment.envelope.module.kind' }),
    );
    // Absent pointers read as absent: a frame with most fields unset comes back as it went in.
    const sparse = { type: 'event', payload: { result } };
    expect(decodeMessage('Frame', encodeMessage('Frame', sparse as never))).toStrictEqual(
      referenceDecode('Frame', encodeMessage('Frame', sparse as never)),
    );
  });
});

describe('limits resolved once', () => {
  test('a resolved limits object is taken as it is; a partial one is merged over the defaults, fresh each time', () => {
    expect(resolveLimits()).toBe(DEFAULT_LIMITS);
    const partial = { maxFrameBytes: 4096 };
    const resolved = resolveLimits(partial);
    expect(resolved).toEqual({ ...DEFAULT_LIMITS, maxFrameBytes: 4096 });
    expect(resolveLimits(partial)).not.toBe(resolved);
    expect(resolveLimits(resolved)).toBe(resolved);
    // An object with every field that resolveLimits did not make is still copied (it may change).
    const own = { ...DEFAULT_LIMITS, maxFrameBytes: 1024 };
    expect(resolveLimits(own)).not.toBe(own);
    expect(resolveLimits(own)).toEqual(own);
  });

  test('a frame over the resolved limit is refused with it, one under it decoded', () => {
    const limits = resolveLimits({ maxFrameBytes: 64 });
    const bytes = encodeMessage('ResultAck', { task_id: 't'.repeat(100), accepted: true });
    expect(() => decodeMessage('ResultAck', bytes, limits)).toThrow(ProtocolError);
    const small = encodeMessage('ResultAck', { task_id: 't', accepted: true });
    expect(decodeMessage('ResultAck', small, limits)).toMatchObject({ task_id: 't', accepted: true });
  });
});

describe('the writer names the field it refuses', () => {
  const frame = (payload: object, extra: object = {}): object => ({ type: 'job', payload, ...extra });
  const envelope = (extra: object): object => ({ task_id: 't', op: 'sum', ...extra });
  const refusal = (encode: () => unknown): { code: string; field: string | undefined } | undefined => {
    try {
      encode();
    } catch (err) {
      if (err instanceof ProtocolError) return { code: err.code, field: err.field };
      throw err;
    }
    return undefined;
  };

  test.each([
    [frame({}, { type: 'nope' }), 'UNKNOWN_ENUM', 'type'],
    [frame({ heartbeat: { seq: -1 } }), 'VALUE_OUT_OF_RANGE', 'payload.heartbeat.seq'],
    [frame({ heartbeat: { seq: 1, lease_ids: ['a', 7] } }), 'WRONG_TYPE', 'payload.heartbeat.lease_ids[1]'],
    [frame({ heartbeat: { seq: 1 }, result: { task_id: 't' } }), 'NOT_EXCLUSIVE', 'payload.heartbeat'],
    [
      frame({ assignment: { envelope: envelope({ inputs: [{ name: 'a' }, { name: 5 }] }) } }),
      'WRONG_TYPE',
      'payload.assignment.envelope.inputs[1].name',
    ],
    [
      frame({ assignment: { envelope: envelope({ task_id: '\ud800' }) } }),
      'WRONG_TYPE',
      'payload.assignment.envelope.task_id',
    ],
    [
      frame({ assignment: { envelope: envelope({ params: 5 }) } }),
      'WRONG_TYPE',
      'payload.assignment.envelope.params',
    ],
    [
      frame({ hello: { protocol_version: 1, capability: { labels: { a: 'b', c: 5 } } } }),
      'WRONG_TYPE',
      'payload.hello.capability.labels.c',
    ],
    [
      frame({ hello: { protocol_version: 1, capability: { gpu: { limits: [{ name: 'x', value: 'y' }] } } } }),
      'WRONG_TYPE',
      'payload.hello.capability.gpu.limits[0].value',
    ],
  ])('%j → %s at %s, as capnp-es', (message, code, field) => {
    expect(refusal(() => encodeMessage('Frame', message as never))).toEqual({ code, field });
    // capnp-es writes a lone surrogate as U+FFFD: only the direct codec refuses it.
    if (!JSON.stringify(message).includes('\\ud800'))
      expect(refusal(() => referenceEncode('Frame', message as never))).toEqual({ code, field });
  });
});

describe('encodeFrameView', () => {
  test("gives encodeFrame's bytes as a view of the encoder's reused buffer, valid until the next encode", () => {
    const frame = makeFrame(
      { result_ack: { task_id: 't', lease_id: 'l', accepted: true } },
      { id: 'i', ts: 'x' },
    );
    const copy = encodeFrame(frame);
    const view = encodeFrameView(frame);
    expect(Buffer.from(view).equals(Buffer.from(copy))).toBe(true);
    const kept = view.slice();
    encodeFrame(makeFrame({ heartbeat: { seq: 9 } }, { id: 'j', ts: 'y' }));
    expect(Buffer.from(view).equals(Buffer.from(kept))).toBe(false);
    expect(Buffer.from(encodeFrame(frame)).equals(Buffer.from(copy))).toBe(true);
    expect(() => encodeFrameView(frame, { maxFrameBytes: 16 })).toThrow(
      expect.objectContaining({ code: 'FRAME_TOO_LARGE' }),
    );
  });
});
