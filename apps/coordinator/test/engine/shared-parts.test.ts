// Open tasks share equal module and requirements objects (engine/shared-parts.ts): what is shared
// is equal to what it replaces, and frozen, so changing it in place throws.
import type { ComputeEnvelope } from '@flock/protocol';
import { expect, test } from 'vitest';
import { SharedParts, sameJson } from '../../src/engine/shared-parts.ts';

const env = (min: Record<string, unknown>, module: ComputeEnvelope['module'] = { kind: 'builtin' }) =>
  ({ task_id: 't', op: 'sum', module, requirements: { min } }) as ComputeEnvelope;

test('sameJson: plain objects by their own keys, arrays by order, byte arrays by content up to 1 KiB', () => {
  expect(sameJson({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toBe(true);
  expect(sameJson({ a: 1 }, { a: 1, b: 2 })).toBe(false);
  expect(sameJson({ a: 1, b: undefined }, { a: 1 })).toBe(false);
  expect(sameJson([1, 2], [2, 1])).toBe(false);
  expect(sameJson([1], { 0: 1 })).toBe(false);
  expect(sameJson(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
  expect(sameJson(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
  expect(sameJson(new Uint8Array([1]), [1])).toBe(false);
  const big = new Uint8Array(2048);
  expect(sameJson(big, big)).toBe(true);
  expect(sameJson(big, new Uint8Array(2048))).toBe(false);
  expect(sameJson(null, {})).toBe(false);
});

test('equal parts are one frozen object; a different one replaces what is remembered', () => {
  const parts = new SharedParts();
  const a = env({ wasm: true });
  const b = env({ wasm: true });
  parts.share(a);
  parts.share(b);
  expect(b.module).toBe(a.module);
  expect(b.requirements).toBe(a.requirements);
  expect(Object.isFrozen(a.requirements!.min)).toBe(true);
  expect(() => {
    (b.requirements!.min as Record<string, unknown>).webgpu = true;
  }).toThrow(TypeError);
  const gpu = env({ webgpu: true });
  parts.share(gpu);
  expect(gpu.requirements).not.toBe(a.requirements);
  expect(gpu.module).toBe(a.module);
  const c = env({ webgpu: true });
  parts.share(c);
  expect(c.requirements).toBe(gpu.requirements);
  // A module's byte array is shared with it, not frozen (typed arrays cannot be).
  const inline = env({ wasm: true }, { kind: 'wasm', inline: new Uint8Array([0, 97, 115, 109]) });
  parts.share(inline);
  expect(Object.isFrozen(inline.module)).toBe(true);
  expect(Object.isFrozen(inline.module!.inline)).toBe(false);
});
