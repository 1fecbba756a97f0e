// The size an image declares, read from its first bytes without any library: the first line of
// defence against decompression bombs. libvips reads JPEG, PNG and GIF headers lazily, but its WebP
// loader allocates the whole canvas while reading the header (a 200-byte WebP declaring
// 16383×16383 pixels makes wasm-vips grow its memory by a gigabyte), so the size is checked here
// first, and libvips' own header is checked again after.
import type { InputFormat } from './image-plan.ts';

export interface DeclaredSize {
  format: InputFormat;
  width: number;
  height: number;
}

/** Whether `text` (ASCII) lies at `at`: compared byte by byte, so a view of shared memory will do. */
export const ascii = (bytes: Uint8Array, at: number, text: string): boolean =>
  bytes.length >= at + text.length && [...text].every((c, i) => bytes[at + i] === c.charCodeAt(0));

const u16be = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const u16le = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const u24le = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
const u32be = (b: Uint8Array, at: number) => ((b[at]! << 24) >>> 0) + ((b[at + 1]! << 16) | u16be(b, at + 2));

/** The format and size an input declares, or undefined where its first bytes do not say. */
export function declaredSize(bytes: Uint8Array): DeclaredSize | undefined {
  if (bytes.length >= 24 && ascii(bytes, 1, 'PNG') && ascii(bytes, 12, 'IHDR'))
    return { format: 'png', width: u32be(bytes, 16), height: u32be(bytes, 20) };
  if (bytes.length >= 10 && ascii(bytes, 0, 'GIF8'))
    return { format: 'gif', width: u16le(bytes, 6), height: u16le(bytes, 8) };
  if (ascii(bytes, 0, 'RIFF') && ascii(bytes, 8, 'WEBP')) return webpSize(bytes);
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return jpegSize(bytes);
  return undefined;
}

function webpSize(b: Uint8Array): DeclaredSize | undefined {
  if (b.length < 30) return undefined;
  if (ascii(b, 12, 'VP8 ') && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a)
    return { format: 'webp', width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
  if (ascii(b, 12, 'VP8L') && b[20] === 0x2f) {
    const bits = b[21]! | (b[22]! << 8) | (b[23]! << 16) | (b[24]! << 24);
    return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (ascii(b, 12, 'VP8X')) return { format: 'webp', width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 };
  return undefined;
}

/** The first start-of-frame marker's size (SOF0..SOF15 but DHT, JPG and DAC). */
function jpegSize(b: Uint8Array): DeclaredSize | undefined {
  let at = 2;
  while (at + 9 < b.length) {
    if (b[at] !== 0xff) return undefined;
    const marker = b[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return { format: 'jpeg', width: u16be(b, at + 7), height: u16be(b, at + 5) };
    at += 2 + u16be(b, at + 2);
  }
  return undefined;
}
