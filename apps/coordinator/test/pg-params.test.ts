// The PostgreSQL store's batch parameters: number array literals and byte strings packed into
// one buffer with 1-based starts, as `substring(blob FROM start FOR length)` reads them.
import { expect, test } from 'vitest';
import { numberArray, packBytes, textArray } from '../src/store/pg-params.ts';

test('numberArray writes an array literal in input order', () => {
  expect(numberArray([3, 1_733_000_000_000, 0.5], (x) => x)).toBe('{3,1733000000000,0.5}');
  expect(numberArray([], (x: number) => x)).toBe('{}');
  expect(numberArray([1, null, undefined, 2], (x) => x)).toBe('{1,NULL,NULL,2}');
});

test('packBytes lays byte strings end to end with 1-based starts and lengths, empty ones included', () => {
  const packed = packBytes([[1, 2], [], [3], [4, 5, 6]], (b) => Uint8Array.from(b));
  expect([...packed.blob]).toEqual([1, 2, 3, 4, 5, 6]);
  expect(packed.starts).toBe('{1,3,3,4}');
  expect(packed.lengths).toBe('{2,0,1,3}');
  const none = packBytes([], (b: Uint8Array) => b);
  expect([none.blob.length, none.starts, none.lengths]).toEqual([0, '{}', '{}']);
});

test('textArray leaves ids bare and quotes anything else as the server reads it', () => {
  const items = ['l-00ab', 'w1', 'sha256:9f/x+y=z@a.b', '', 'NULL', 'a b', 'q"u\\o', null, undefined];
  expect(textArray(items, (v) => v)).toBe(
    '{l-00ab,w1,sha256:9f/x+y=z@a.b,"","NULL","a b","q\\"u\\\\o",NULL,NULL}',
  );
});
