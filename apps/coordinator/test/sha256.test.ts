// sha256Hex (src/sha256.ts), the coordinator's one SHA-256 helper: the same hex as a Hash object
// for bytes (views into a larger buffer included) and for strings (hashed as UTF-8).
import { createHash } from 'node:crypto';
import { expect, test } from 'vitest';
import { sha256Hex } from '../src/sha256.ts';

test('known vectors: empty and "abc"', () => {
  expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  expect(sha256Hex(new TextEncoder().encode('abc'))).toBe(
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
});

test('equal to a Hash object for a view into a larger buffer and for non-ASCII and ill-formed strings', () => {
  const whole = new Uint8Array(1000).map((_, i) => (i * 7) % 256);
  const view = whole.subarray(100, 400);
  expect(sha256Hex(view)).toBe(createHash('sha256').update(view).digest('hex'));
  expect(sha256Hex(view)).not.toBe(sha256Hex(whole));
  for (const text of ['é \u{1F600} 数', '"\uD800"', 'x'.repeat(100_000)]) {
    expect(sha256Hex(text)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
    expect(sha256Hex(text)).toBe(sha256Hex(Buffer.from(text, 'utf8')));
  }
});
