import { writeNpy } from '@flock/libraries/models';
import { describe, expect, it } from 'vitest';
import { FlockError } from '../src/flock-error.ts';
import { joinRows, readTensorFile, splitRows } from '../src/tensor-batches.ts';

const rowsOf = (n: number, width: number) => {
  const bytes = Uint8Array.from({ length: n * width * 4 }, (_, i) => i % 251);
  return { tensor: { dtype: 'float32' as const, shape: [n, width] }, bytes };
};

describe('tensor batches', () => {
  it('splits along the leading dimension into batches of rows, the last one shorter, and joins them back', () => {
    const whole = rowsOf(10, 3);
    const parts = splitRows(whole, 4);
    expect(parts.map((p) => p.tensor.shape)).toEqual([
      [4, 3],
      [4, 3],
      [2, 3],
    ]);
    expect(parts[2]!.bytes).toEqual(whole.bytes.subarray(8 * 12));
    expect(joinRows(parts)).toEqual({ tensor: whole.tensor, bytes: whole.bytes });
    expect(splitRows(whole).map((p) => p.tensor.shape)).toEqual([[10, 3]]);
  });

  it('refuses to join parts of another dtype or trailing dims', () => {
    const a = rowsOf(2, 3);
    const b = rowsOf(2, 4);
    expect(() => joinRows([a, b])).toThrowError(FlockError);
    expect(() => joinRows([a, { ...a, tensor: { dtype: 'int32', shape: [2, 3] } }])).toThrow(
      'parts differ in dtype or trailing dims',
    );
  });

  it('reads .npy files, and names a file that is not one (INVALID_INPUT)', () => {
    const { tensor, bytes } = rowsOf(2, 2);
    expect(readTensorFile({ name: 'x.npy', bytes: writeNpy(tensor, bytes) })).toEqual({ tensor, bytes });
    try {
      readTensorFile({ name: 'x.csv', bytes: new TextEncoder().encode('1,2') });
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: 'INVALID_INPUT', message: 'x.csv is not an .npy file' });
    }
  });
});
