// The direct codec (src/wire-codec.ts) against capnp-es (the reference) on random messages of
// every struct: each decodes the other's bytes to the same object. With the interop tests
// against the `capnp` tool, this ties the direct codec to two independent implementations.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodeMessage, encodeMessage } from '../src/message-codec.ts';
import { referenceDecode, referenceEncode } from '../src/reference-codec.ts';
import type { StructName } from '../src/struct-descriptors.ts';
import { MessageArbitraries } from './support/arbitraries.ts';
import { canonical } from './support/canonical.ts';

const RUNS = Math.max(200, Math.floor(Number(process.env.FLOCK_FUZZ_RUNS ?? 1000) / 2));
const arbs = new MessageArbitraries();

describe('direct codec ⇄ capnp-es', () => {
  test('capnp-es decodes what the direct codec encodes', () => {
    fc.assert(
      fc.property(arbs.anyMessage(), ({ name, message }) => {
        const bytes = encodeMessage(name as StructName, message as never);
        expect(referenceDecode(name as StructName, bytes)).toStrictEqual(
          canonical(name as StructName, message),
        );
      }),
      { numRuns: RUNS, seed: 7 },
    );
  });

  test('the direct codec decodes what capnp-es encodes', () => {
    fc.assert(
      fc.property(arbs.anyMessage(), ({ name, message }) => {
        const bytes = referenceEncode(name as StructName, message as never);
        expect(decodeMessage(name as StructName, bytes)).toStrictEqual(
          canonical(name as StructName, message),
        );
      }),
      { numRuns: RUNS, seed: 11 },
    );
  });

  test('a Frame with every payload kind round-trips through both', () => {
    fc.assert(
      fc.property(arbs.frame(), (frame) => {
        const direct = encodeMessage('Frame', frame as never);
        const reference = referenceEncode('Frame', frame as never);
        expect(decodeMessage('Frame', reference)).toStrictEqual(referenceDecode('Frame', direct));
      }),
      { numRuns: RUNS, seed: 13 },
    );
  });
});
