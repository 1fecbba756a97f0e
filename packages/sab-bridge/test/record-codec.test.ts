import { type BridgeRecord, decodeMessage, encodeMessage, ProtocolError } from '@flock/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBridgeRecord, encodeBridgeRecord } from '../src/index.ts';

const u32 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff }));
const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 8 }));
const slice = fc.record({ name: text, offset: u32, length: u32, generation: u32 }, { requiredKeys: [] });
const record: fc.Arbitrary<BridgeRecord> = fc.record(
  {
    kind: fc.constantFrom('job', 'result', 'failure', 'progress', 'cancel'),
    job_id: u32,
    task_id: text,
    slices: fc.array(slice, { maxLength: 5 }),
    code: text,
    message: text,
    retryable: fc.boolean(),
    pct: fc.oneof(fc.constant(0), fc.float({ noNaN: true, noDefaultInfinity: true })),
    params: text,
  },
  { requiredKeys: [] },
);

describe('BridgeRecord fast codec, tied to the protocol codec', () => {
  it('encodes what the protocol decodes to the same record, and decodes what it encodes', () => {
    fc.assert(
      fc.property(record, (r) => {
        const reference = decodeMessage('BridgeRecord', encodeMessage('BridgeRecord', r));
        expect(decodeMessage('BridgeRecord', encodeBridgeRecord(r))).toEqual(reference);
        expect(decodeBridgeRecord(encodeMessage('BridgeRecord', r))).toEqual(reference);
        expect(decodeBridgeRecord(encodeBridgeRecord(r))).toEqual(reference);
      }),
      { seed: 1122, numRuns: 1000 },
    );
  });

  it('writes the documented words for a known record', () => {
    const bytes = encodeBridgeRecord({ kind: 'result', job_id: 7, retryable: true, pct: 0.5, task_id: 'ab' });
    const hex = Buffer.from(bytes).toString('hex');
    expect(hex).toBe(
      [
        '0000000009000000', // segment table: 1 segment, 9 words
        '0000000002000500', // root: struct, 2 data words, 5 pointers
        '0100010007000000', // kind 1 (result), retryable bit, job_id 7
        '0000003f00000000', // pct 0.5f
        '110000001a000000', // task_id: byte list at +4 words, 3 bytes ("ab" NUL)
        '0000000000000000',
        '0000000000000000',
        '0000000000000000',
        '0000000000000000',
        '6162000000000000', // "ab\0"
      ].join(''),
    );
    expect(decodeMessage('BridgeRecord', bytes)).toEqual({
      kind: 'result',
      job_id: 7,
      retryable: true,
      pct: 0.5,
      task_id: 'ab',
    });
  });

  it('leaves a list of 2^29 zero-sized slices to the protocol codec and its limits', () => {
    const bytes = encodeBridgeRecord({ slices: [] });
    const dv = new DataView(bytes.buffer);
    // The slices pointer (root word 1 + 2 data words + 1) and its tag word right after the struct.
    const tag = 8 + 8 * 8;
    expect(dv.getUint32(tag + 4, true)).toBe(2 | (1 << 16));
    dv.setUint32(tag, (1 << 29) << 2, true); // element count 2^29 …
    dv.setUint32(tag + 4, 0, true); // … of 0 data words and 0 pointers
    let err: unknown;
    try {
      decodeBridgeRecord(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProtocolError);
  });

  it('rejects what the protocol codec rejects, with the same error', () => {
    expect(() => encodeBridgeRecord({ pct: Number.NaN })).toThrow(ProtocolError);
    expect(() => encodeBridgeRecord({ job_id: -1 })).toThrow(ProtocolError);
    for (const bad of [
      new Uint8Array(0),
      new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]),
      new Uint8Array(24).fill(0xff),
    ]) {
      let mine: unknown;
      let theirs: unknown;
      try {
        decodeBridgeRecord(bad);
      } catch (e) {
        mine = e;
      }
      try {
        decodeMessage('BridgeRecord', bad);
      } catch (e) {
        theirs = e;
      }
      expect(mine).toBeInstanceOf(ProtocolError);
      expect((mine as ProtocolError).code).toBe((theirs as ProtocolError).code);
    }
  });
});
