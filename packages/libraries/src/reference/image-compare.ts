// The `pixels` comparison of image outputs: decode both (sharp) and take the largest difference
// of any channel of any pixel. Used by the tests and by whoever verifies two volunteers' outputs.
import sharp from 'sharp';

async function decode(bytes: Uint8Array) {
  const image = sharp(bytes, { failOn: 'error' });
  const { channels } = await image.metadata();
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: channels ?? info.channels };
}

/**
 * The largest per-channel difference (0..255) between two encoded images' pixels; Infinity when
 * their width, height or channel count differ.
 */
export async function maxPixelDiff(a: Uint8Array, b: Uint8Array): Promise<number> {
  const [x, y] = await Promise.all([decode(a), decode(b)]);
  if (
    x.width !== y.width ||
    x.height !== y.height ||
    x.channels !== y.channels ||
    x.data.length !== y.data.length
  )
    return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < x.data.length; i++) {
    const d = Math.abs(x.data[i]! - y.data[i]!);
    if (d > max) max = d;
  }
  return max;
}
