import { ProtocolError } from './protocol-error.ts';

// Hand-written because this package runs in browsers and Node alike without Buffer or atob
// types, and Uint8Array.fromBase64 is not in Node 20.
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;
// base64url is accepted on input too.
LOOKUP['-'.charCodeAt(0)] = 62;
LOOKUP['_'.charCodeAt(0)] = 63;

const CODES = new Uint8Array(64);
for (let i = 0; i < ALPHABET.length; i++) CODES[i] = ALPHABET.charCodeAt(i);
const ascii = new TextDecoder();
/** Reused for outputs up to 4 KiB (larger ones get their own, not kept). */
const scratch = new Uint8Array(4096);

/**
 * Standard base64 with padding. The characters are written into bytes and decoded once: adding
 * them to a string four at a time made several intermediate strings per three bytes, and every
 * task's JSON view encodes its inline inputs.
 */
export function encodeBase64(bytes: Uint8Array): string {
  const size = Math.ceil(bytes.length / 3) * 4;
  const out = size <= scratch.length ? scratch : new Uint8Array(size);
  let o = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = CODES[n >> 18]!;
    out[o++] = CODES[(n >> 12) & 63]!;
    out[o++] = CODES[(n >> 6) & 63]!;
    out[o++] = CODES[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    const n = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    out[o++] = CODES[n >> 18]!;
    out[o++] = CODES[(n >> 12) & 63]!;
    out[o++] = rest === 2 ? CODES[(n >> 6) & 63]! : 61; // '='
    out[o++] = 61;
  }
  return ascii.decode(out.subarray(0, o));
}

/** Strict decode: padding optional, no whitespace, no stray characters. */
export function decodeBase64(text: string, field?: string): Uint8Array {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  if (text.length - end > 2 || end % 4 === 1) {
    throw new ProtocolError('INVALID_BASE64', 'bytes must be base64', field);
  }
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let bits = 0;
  let value = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? LOOKUP[c]! : -1;
    if (v < 0)
      throw new ProtocolError('INVALID_BASE64', `bytes must be base64 (bad character at ${i})`, field);
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (value >> bits) & 0xff;
    }
  }
  return out;
}
