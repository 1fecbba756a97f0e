import { describe, expect, test } from 'vitest';
import { decodeBase64, encodeBase64 } from '../src/index.ts';

describe('base64', () => {
  test('RFC 4648 test vectors', () => {
    const vectors = [
      ['', ''],
      ['f', 'Zg=='],
      ['fo', 'Zm8='],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg=='],
      ['fooba', 'Zm9vYmE='],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [text, base64] of vectors) {
      expect(encodeBase64(new TextEncoder().encode(text))).toBe(base64);
      expect(new TextDecoder().decode(decodeBase64(base64!))).toBe(text);
    }
  });

  test('every length up to past the reused 4 KiB of output, as Node writes it', () => {
    for (const length of [0, 1, 2, 3, 255, 3070, 3071, 3072, 3073, 3074, 3075, 10_000]) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 131 + length) & 0xff);
      const expected = Buffer.from(bytes).toString('base64');
      expect(encodeBase64(bytes)).toBe(expected);
      expect(decodeBase64(expected)).toEqual(bytes);
    }
  });
});
