// Property tests of deliverability (#21): the submit check may skip the exact encoding only for
// envelopes whose JSON view is small enough, which is safe only if Cap'n Proto never takes more
// than WIRE_PER_JSON_BYTE wire bytes per JSON byte (plus the fixed overhead). Envelopes of every
// shape the schema allows, with long lists of the costliest elements, must keep to that bound,
// and whatever passes the check must encode into an assignment frame within the limit.
import { type ComputeEnvelope, decodeFrame, encodeFrame, makeFrame, toJson } from '@flock/protocol';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { MessageArbitraries } from '../../../packages/protocol/test/support/arbitraries.ts';
import { assignmentFrameBytes, checkDeliverable } from '../src/engine/deliverable.ts';
import { CoordinatorError } from '../src/errors.ts';

const WIRE_PER_JSON_BYTE = 8;
const FRAME_OVERHEAD = 64 << 10;

const jsonBytes = (env: ComputeEnvelope): number =>
  Buffer.byteLength(JSON.stringify(toJson('ComputeEnvelope', env)));

/** Envelopes of any shape: every field may be set, lists up to `maxItems` long. */
const anyEnvelope = (maxItems: number) =>
  new MessageArbitraries({ maxItems, maxString: 4, maxBytes: 16 })
    .struct('ComputeEnvelope')
    .map((e) => e as ComputeEnvelope);

/** The costliest shapes per JSON byte: many tiny inputs with tensors, long shapes, empty structs. */
const denseEnvelope = fc
  .record({
    inputs: fc.integer({ min: 0, max: 400 }),
    shape: fc.integer({ min: 0, max: 2000 }),
    features: fc.integer({ min: 0, max: 500 }),
    buffers: fc.integer({ min: 0, max: 300 }),
  })
  .map(
    ({ inputs, shape, features, buffers }): ComputeEnvelope => ({
      task_id: 't',
      op: 'o',
      module: { kind: 'wgsl', inline: new Uint8Array(0) },
      requirements: {
        min: { gpu: { features: Array.from({ length: features }, () => 'f') } },
        preferred: { gpu: {} },
      },
      inputs: Array.from({ length: inputs }, () => ({ name: 'a', uri: 'b', tensor: { shape: [1] } })),
      buffers: [
        { name: 'y', tensor: { shape: Array.from({ length: shape }, () => 1) } },
        ...Array.from({ length: buffers }, () => ({})),
      ],
    }),
  );

describe("Cap'n Proto stays within WIRE_PER_JSON_BYTE of the JSON view", () => {
  test.each([
    ['any shape, short lists', anyEnvelope(3), 400],
    ['any shape, long lists', anyEnvelope(48), 150],
    ['the densest shapes', denseEnvelope, 200],
  ])('%s', (_name, arb, numRuns) => {
    fc.assert(
      fc.property(arb, (env) => {
        const wire = assignmentFrameBytes(env, 1 << 30);
        expect(wire).toBeLessThanOrEqual(jsonBytes(env) * WIRE_PER_JSON_BYTE + FRAME_OVERHEAD);
      }),
      { seed: 2101, numRuns },
    );
  });
});

describe('what passes the submit check encodes into an assignment frame within the limit', () => {
  const limit = 96 << 10;
  const sized = fc.record({
    env: anyEnvelope(8),
    big: fc.integer({ min: 0, max: 160 << 10 }),
  });
  test('for envelopes on both sides of a 96 KiB limit', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(sized, ({ env, big }) => {
        env.inputs = [...(env.inputs ?? []), { name: 'big', inline_bytes: new Uint8Array(big) }];
        try {
          checkDeliverable(env, jsonBytes(env), limit);
        } catch (err) {
          expect(err).toBeInstanceOf(CoordinatorError);
          expect((err as CoordinatorError).code).toBe('TASK_TOO_LARGE');
          refused += 1;
          return;
        }
        accepted += 1;
        const frame = encodeFrame(
          makeFrame({
            assignment: {
              task_id: env.task_id ?? '',
              worker_id: 'w-0123456789ab',
              lease_id: 'l-mk3k2j0a1b2c3d4-00000001',
              lease_expires_at_ms: Date.now(),
              attempt: 1,
              task_token: `hmac:${'x'.repeat(43)}`,
              envelope: env,
            },
          }),
          { maxFrameBytes: limit },
        );
        expect(decodeFrame(frame, { maxFrameBytes: limit }).payload).toHaveProperty('assignment');
      }),
      { seed: 2102, numRuns: 300 },
    );
    // Both sides were exercised.
    expect(accepted).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(50);
  });
});
