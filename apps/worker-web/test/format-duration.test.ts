import { describe, expect, it } from 'vitest';
import { formatDuration } from '../src/format-duration.ts';

describe('formatDuration', () => {
  it.each([
    [0, '0.0 s'],
    [3, '0.0 s'],
    [49, '0.0 s'],
    [50, '0.1 s'],
    [12_345, '12.3 s'],
    [59_949, '59.9 s'],
    // Rounding to a tenth reaches a minute: shown as one, not as "60.0 s".
    [59_960, '1 min 0 s'],
    [119_600, '2 min 0 s'],
    [125_400, '2 min 5 s'],
    [3_599_400, '59 min 59 s'],
    [3_599_600, '1 h 0 min'],
    [3_840_000, '1 h 4 min'],
    [90_000_000, '25 h 0 min'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('negative and non-finite values show as zero', () => {
    expect(formatDuration(-5)).toBe('0.0 s');
    expect(formatDuration(Number.NaN)).toBe('0.0 s');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('0.0 s');
  });
});
