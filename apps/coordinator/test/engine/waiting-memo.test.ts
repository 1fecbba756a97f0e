// The waiting-reason memo of one request: same requirements, same answer; others, their own.
import { describe, expect, test } from 'vitest';
import { sameJson, WaitingMemo } from '../../src/engine/waiting-memo.ts';

describe('WaitingMemo', () => {
  test('answers for requirements equal to remembered ones, whichever came last, and for no others', () => {
    const memo = new WaitingMemo();
    expect(memo.get({ wasm: true }, false)).toBeUndefined();
    memo.set({ wasm: true }, false, 'no wasm volunteer');
    memo.set({ webgpu: true }, true, 'no GPU volunteer');
    memo.set(undefined, false, 'none connected');
    // Equal objects (not the same ones), in any order of asking.
    expect(memo.get({ wasm: true }, false)).toBe('no wasm volunteer');
    expect(memo.get({ wasm: true }, false)).toBe('no wasm volunteer');
    expect(memo.get({ webgpu: true }, true)).toBe('no GPU volunteer');
    expect(memo.get(undefined, false)).toBe('none connected');
    // The same requirements for a GPU task, or others, are not known.
    expect(memo.get({ wasm: true }, true)).toBeUndefined();
    expect(memo.get({ wasm: true, cpu_cores: 4 }, false)).toBeUndefined();
    expect(memo.get({}, false)).toBeUndefined();
  });
});

describe('sameJson', () => {
  test.each([
    [{ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 }, true],
    [{ a: 1 }, { a: 1, b: 2 }, false],
    [{ a: 1, b: 2 }, { a: 1 }, false],
    [{ a: [1, 2] }, { a: [2, 1] }, false],
    [{ a: [1] }, { a: { 0: 1 } }, false],
    [{ a: null }, { a: {} }, false],
    [undefined, {}, false],
    [undefined, undefined, true],
    ['1', 1, false],
  ])('%j and %j: %s', (a, b, same) => {
    expect(sameJson(a, b)).toBe(same);
    expect(sameJson(b, a)).toBe(same);
  });
});
