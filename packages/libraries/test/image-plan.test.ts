// The library-free half of image.*: sizes read from headers, output names, sharp's geometry rules
// and the pixel limit, shared by the tab's runtime and the reference.
import { describe, expect, test } from 'vitest';
import { checkLibraryCall } from '../src/index.ts';
import {
  centreCrop,
  jpegShrinkOnLoad,
  MAX_PIXELS,
  maxPixels,
  outputName,
  outputOf,
  resolveShrink,
  sizeAfter,
  stepsOf,
} from '../src/runtime/image-plan.ts';
import { declaredSize } from '../src/runtime/image-sniff.ts';
import { fixtures, gifBomb, jpegBomb, pngBomb, webpBomb } from './support/image-fixtures.ts';

describe('declaredSize reads the header without a library', () => {
  test('of every input kind', async () => {
    const sizes = (await fixtures(33, 17)).map((f) => [f.name, declaredSize(f.bytes)]);
    expect(sizes).toEqual([
      ['rgb.jpg', { format: 'jpeg', width: 33, height: 17 }],
      ['rgba.png', { format: 'png', width: 33, height: 17 }],
      ['grey.png', { format: 'png', width: 33, height: 17 }],
      ['grey-alpha.png', { format: 'png', width: 33, height: 17 }],
      ['rgb.webp', { format: 'webp', width: 33, height: 17 }],
      ['rgba.gif', { format: 'gif', width: 33, height: 17 }],
    ]);
  });

  test('of bombs, and not of other bytes', async () => {
    expect(declaredSize((await pngBomb(50_000, 40_000)).bytes)).toEqual({
      format: 'png',
      width: 50_000,
      height: 40_000,
    });
    expect(declaredSize((await jpegBomb(65_535, 3)).bytes)).toEqual({
      format: 'jpeg',
      width: 65_535,
      height: 3,
    });
    expect(declaredSize((await gifBomb(7, 65_000)).bytes)).toEqual({
      format: 'gif',
      width: 7,
      height: 65_000,
    });
    expect(declaredSize((await webpBomb(16_383, 2)).bytes)).toEqual({
      format: 'webp',
      width: 16_383,
      height: 2,
    });
    expect(declaredSize(new TextEncoder().encode('GIF'))).toBeUndefined();
    expect(declaredSize(new Uint8Array([0xff, 0xd8, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]))).toBeUndefined();
  });
});

describe('outputs', () => {
  test('names take the format extension, keep a matching one, and never collide', () => {
    const used = new Set<string>();
    expect(outputName('cat.png', 'jpeg', used)).toBe('cat.jpg');
    expect(outputName('cat.jpeg', 'jpeg', used)).toBe('cat.jpeg');
    expect(outputName('cat.gif', 'jpeg', used)).toBe('cat-2.jpg');
    expect(outputName('dir.v2/photo', 'webp', used)).toBe('dir.v2/photo.webp');
    expect(outputName('.hidden', 'png', used)).toBe('.hidden.png');
    expect(outputName('A.PNG', 'png', used)).toBe('A.PNG');
  });

  test("the format defaults to the input's (a GIF's to PNG), quality to 80", () => {
    const call = checkLibraryCall('image.invert', {}, 1);
    expect(outputOf(call, 'webp')).toEqual({ format: 'webp', quality: 80 });
    expect(outputOf(call, 'gif')).toEqual({ format: 'png', quality: 80 });
    expect(outputOf(checkLibraryCall('image.invert', { format: 'jpeg', quality: 30 }, 1), 'png')).toEqual({
      format: 'jpeg',
      quality: 30,
    });
  });
});

describe('geometry (sharp rules)', () => {
  test('shrink factors by fit, and shrink-on-load as libjpeg rounds it', () => {
    expect(resolveShrink(4000, 3000, { width: 800 }, 'cover')).toEqual([5, 5]);
    expect(resolveShrink(400, 300, { width: 100, height: 100 }, 'cover')).toEqual([3, 3]);
    expect(resolveShrink(400, 300, { width: 100, height: 100 }, 'inside')).toEqual([4, 4]);
    expect(resolveShrink(400, 300, { width: 100, height: 100 }, 'fill')).toEqual([4, 3]);
    expect(resolveShrink(40, 30, { width: 400 }, 'inside', true)).toEqual([1, 1]);
    expect([1.5, 2, 2.5, 4, 5, 8, 9].map(jpegShrinkOnLoad)).toEqual([1, 1, 1, 2, 4, 4, 8]);
    expect(centreCrop(101, 50, 50, 50)).toEqual([26, 0]);
  });

  test('sizes of each step before decoding, EXIF turns included', () => {
    const steps = stepsOf(
      checkLibraryCall(
        'image.pipeline',
        {
          steps: [
            { op: 'resize', width: 150, height: 150, fit: 'contain' },
            { op: 'thumbnail', width: 100 },
            { op: 'rotate', angle: 90, auto_orient: false },
            { op: 'crop', width: 9, height: 8 },
          ],
        },
        1,
      ),
    );
    expect(sizeAfter(steps[0]!, 400, 300, 1)).toEqual([150, 150]);
    expect(sizeAfter(steps[1]!, 300, 200, 6)).toEqual([67, 100]);
    expect(sizeAfter(steps[2]!, 300, 200, 6)).toEqual([200, 300]);
    expect(sizeAfter(steps[3]!, 300, 200, 1)).toEqual([9, 8]);
  });

  test('the pixel limit is 100 megapixels, less where the job has less WASM memory', () => {
    expect(MAX_PIXELS).toBe(100_000_000);
    expect(maxPixels({ memoryPages: 16_384 })).toBe(100_000_000);
    expect(maxPixels({ memoryPages: 4_096 })).toBe(33_554_432);
  });
});
