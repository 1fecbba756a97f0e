// Test images made with sharp from seeded pixels: gradients, noise and shapes (no text), in every
// input format and channel layout the image methods take.
import sharp from 'sharp';

/** Seeded pixels: a gradient per channel, noise, a disc with the gradient reversed, alpha ramp. */
export function pixels(width: number, height: number, channels: 1 | 2 | 3 | 4, seed = 1): Buffer {
  const px = Buffer.alloc(width * height * channels);
  let s = seed;
  const r2 = (Math.min(width, height) / 3) ** 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inDisc = (x - width / 2) ** 2 + (y - height / 2) ** 2 < r2;
      for (let c = 0; c < channels; c++) {
        s = (s * 1_103_515_245 + 12_345) & 0x7fffffff;
        const alpha = (channels === 2 && c === 1) || c === 3;
        let v =
          c === 0 ? (x * 200) / width : c === 1 ? (y * 200) / height : ((x + y) * 100) / (width + height);
        if (inDisc) v = 255 - v;
        if (alpha) v = 60 + (x * 195) / width;
        px[(y * width + x) * channels + c] = Math.min(255, Math.trunc(v + (alpha ? 0 : (s >> 16) % 40)));
      }
    }
  }
  return px;
}

/** The seeded pixels as a sharp image; one or two channels stay grey (sharp writes sRGB otherwise). */
export function rawImage(width: number, height: number, channels: 1 | 2 | 3 | 4, seed = 1) {
  const image = sharp(pixels(width, height, channels, seed), { raw: { width, height, channels } });
  return channels <= 2 ? image.toColourspace('b-w') : image;
}

export interface Fixture {
  name: string;
  contentType: string;
  bytes: Uint8Array;
}

const fixture = (name: string, contentType: string, bytes: Buffer): Fixture => ({
  name,
  contentType,
  bytes: new Uint8Array(bytes),
});

/** One image of each kind the methods take, about `width`×`height`. */
export async function fixtures(width = 320, height = 240): Promise<Fixture[]> {
  return [
    fixture('rgb.jpg', 'image/jpeg', await rawImage(width, height, 3).jpeg({ quality: 90 }).toBuffer()),
    fixture('rgba.png', 'image/png', await rawImage(width, height, 4, 2).png().toBuffer()),
    fixture('grey.png', 'image/png', await rawImage(width, height, 1, 3).png().toBuffer()),
    fixture('grey-alpha.png', 'image/png', await rawImage(width, height, 2, 4).png().toBuffer()),
    fixture('rgb.webp', 'image/webp', await rawImage(width, height, 3, 5).webp({ quality: 90 }).toBuffer()),
    fixture('rgba.gif', 'image/gif', await rawImage(width, height, 4, 6).gif().toBuffer()),
  ];
}

/** A JPEG whose EXIF orientation is `orientation` (6: stored turned left, shown turned right). */
export async function orientedJpeg(orientation: number, width = 300, height = 200): Promise<Fixture> {
  const bytes = await rawImage(width, height, 3, 7).withMetadata({ orientation }).jpeg().toBuffer();
  return fixture(`oriented-${orientation}.jpg`, 'image/jpeg', bytes);
}

// Decompression bombs: small, valid files whose headers declare huge images (the pixel data is that
// of a small image, so a loader that trusted the header would fail or allocate gigabytes).

/** A PNG whose IHDR declares `width`×`height` (CRC fixed up). */
export async function pngBomb(width: number, height: number): Promise<Fixture> {
  const png = await rawImage(16, 16, 3).png().toBuffer();
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return fixture('bomb.png', 'image/png', png);
}

/** A JPEG whose SOF0 declares `width`×`height` (at most 65535 each). */
export async function jpegBomb(width: number, height: number): Promise<Fixture> {
  const jpg = await rawImage(16, 16, 3).jpeg().toBuffer();
  const sof = jpg.indexOf(Buffer.from([0xff, 0xc0]));
  jpg.writeUInt16BE(height, sof + 5);
  jpg.writeUInt16BE(width, sof + 7);
  return fixture('bomb.jpg', 'image/jpeg', jpg);
}

/** A GIF whose screen and first frame declare `width`×`height` (at most 65535 each). */
export async function gifBomb(width: number, height: number): Promise<Fixture> {
  const gif = await rawImage(16, 16, 3).gif().toBuffer();
  gif.writeUInt16LE(width, 6);
  gif.writeUInt16LE(height, 8);
  const frame = gif.indexOf(0x2c, 13 + (gif[10]! & 0x80 ? 3 * 2 ** ((gif[10]! & 7) + 1) : 0));
  gif.writeUInt16LE(width, frame + 5);
  gif.writeUInt16LE(height, frame + 7);
  return fixture('bomb.gif', 'image/gif', gif);
}

/** A lossy WebP (VP8) whose frame header declares `width`×`height` (at most 16383 each). */
export async function webpBomb(width: number, height: number): Promise<Fixture> {
  const webp = await rawImage(16, 16, 3).webp().toBuffer();
  const vp8 = webp.indexOf('VP8 ');
  webp.writeUInt16LE(width, vp8 + 14);
  webp.writeUInt16LE(height, vp8 + 16);
  return fixture('bomb.webp', 'image/webp', webp);
}

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
