// The dashboard's op catalogue is built from the op contracts of @flock/shaders; this checks it
// offers every op with a working example, and the parser that turns typed text into tensor bytes.
import { OPS } from '@flock/shaders';
import { describe, expect, it } from 'vitest';
import { BUILTIN_OPS, encodeNumbers } from '../src/builtin-catalog.ts';

describe('BUILTIN_OPS', () => {
  it('lists exactly the ops of @flock/shaders with the same inputs, outputs and params', () => {
    expect(BUILTIN_OPS.map((o) => o.op).sort()).toEqual(Object.keys(OPS).sort());
    for (const entry of BUILTIN_OPS) {
      const def = OPS[entry.op as keyof typeof OPS];
      expect({ op: entry.op, inputs: entry.inputs, outputs: entry.outputs, summary: entry.summary }).toEqual({
        op: def.op,
        inputs: def.inputs.map((t) => ({ ...t, shape: [...t.shape] })),
        outputs: def.outputs.map((t) => ({ ...t, shape: [...t.shape] })),
        summary: def.summary,
      });
      expect(entry.params).toEqual(def.params);
    }
  });

  it('has examples that the op accepts (the CPU reference runs them)', async () => {
    for (const entry of BUILTIN_OPS) {
      const def = OPS[entry.op as keyof typeof OPS];
      const inputs = Object.fromEntries(
        entry.inputs.map((t) => [t.name, encodeNumbers(entry.example.inputs[t.name] ?? '', t.dtype)]),
      );
      const outputs = await def.prepare(inputs, entry.example.params).reference();
      expect(Object.keys(outputs).sort(), entry.op).toEqual(entry.outputs.map((t) => t.name).sort());
    }
  });
});

describe('encodeNumbers', () => {
  it('encodes little-endian tensors from spaces, commas and newlines', () => {
    expect(encodeNumbers('1, 2\n3', 'f32')).toEqual(new Uint8Array(new Float32Array([1, 2, 3]).buffer));
    expect(encodeNumbers('7 4294967295', 'u32')).toEqual(new Uint8Array([7, 0, 0, 0, 255, 255, 255, 255]));
    expect(encodeNumbers('97 98', 'u8')).toEqual(new Uint8Array([97, 98]));
    expect(encodeNumbers('', 'f32')).toEqual(new Uint8Array(0));
  });

  it('names the first bad token', () => {
    expect(() => encodeNumbers('1 x 3', 'f32')).toThrow('"x" is not a number');
    expect(() => encodeNumbers('1.5', 'u32')).toThrow('"1.5" is not a non-negative integer');
    expect(() => encodeNumbers('256', 'u8')).toThrow('"256" does not fit in a byte');
    expect(() => encodeNumbers('1 2 3', 'c64')).toThrow('c64 needs (re, im) pairs');
  });
});
