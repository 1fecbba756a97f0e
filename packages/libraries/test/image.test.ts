// image.* on the tab's wasm-vips (its vips.wasm, through the Node glue) against the sharp reference
// (native libvips): every method and kernel on every input kind, compared by decoded pixels under
// the method's rule; the runtime's lifecycle (cold load, warm job, a job after a failure, stops,
// memory over 50 jobs); and hostile inputs refused with typed errors.
import sharp from 'sharp';
import { beforeAll, describe, expect, test } from 'vitest';
import { getMethod, LIBRARY_FILES } from '../src/index.ts';
import { IMAGE_COMPARE } from '../src/methods/image.ts';
import { maxPixelDiff } from '../src/reference/image-compare.ts';
import { type Fixture, fixtures, orientedJpeg, rawImage } from './support/image-fixtures.ts';
import { imageContext, NODE_GLUE } from './support/image-node-vips.ts';
import { both, codeOf, imageHost, rawOf } from './support/image-runtime.ts';

const { host } = imageHost();
let inputs: Fixture[];
let jpg: Fixture;

beforeAll(async () => {
  inputs = [...(await fixtures()), await orientedJpeg(6)];
  jpg = inputs[0]!;
});

describe('loading', () => {
  test('the first job loads vips.wasm through the context; the second is warm and fetches nothing', async () => {
    const ctx = imageContext();
    expect(host.warm()).toEqual([]);
    const cold = performance.now();
    const first = await host.run('image.resize', { width: 100 }, [jpg], ctx);
    const coldMs = performance.now() - cold;
    expect(first.summary).toEqual({ 'rgb.jpg': '100x75' });
    expect(ctx.fetched).toEqual(['wasm-vips/lib/vips.wasm']);
    expect(host.warm()).toEqual(['image']);
    const warm = performance.now();
    const second = await host.run('image.resize', { width: 50 }, [jpg], ctx);
    expect(performance.now() - warm).toBeLessThan(coldMs);
    expect(second.summary).toEqual({ 'rgb.jpg': '50x38' });
    expect(ctx.fetched).toEqual(['wasm-vips/lib/vips.wasm']);
  });

  test('the tab fetches exactly the ES-module glue and the WASM (Node uses the package Node glue)', () => {
    expect(LIBRARY_FILES.image).toEqual([
      { package: 'wasm-vips', path: 'lib/vips-es6.js' },
      { package: 'wasm-vips', path: 'lib/vips.wasm' },
    ]);
    expect(NODE_GLUE).toBe('lib/vips-node.mjs');
  });

  test('a page without SharedArrayBuffer is refused with LIBRARY_LOAD_FAILED (retryable elsewhere)', async () => {
    const bare = imageHost();
    const ctx = { ...imageContext(), threads: false };
    expect(await codeOf(() => bare.host.run('image.invert', {}, [jpg], ctx))).toBe(
      'LIBRARY_LOAD_FAILED undefined',
    );
    expect(bare.host.warm()).toEqual([]);
  });
});

/** Every method, its fits and kernels; each runs on every fixture, PNG out (lossless). */
const CALLS: [string, object][] = [
  ['image.resize', { width: 100 }],
  ['image.resize', { width: 150, height: 150, fit: 'cover' }],
  ['image.resize', { width: 150, height: 150, fit: 'contain', kernel: 'cubic' }],
  ['image.resize', { width: 150, height: 100, fit: 'fill', kernel: 'linear' }],
  ['image.resize', { width: 150, height: 150, fit: 'inside', kernel: 'mitchell' }],
  ['image.resize', { width: 150, height: 150, fit: 'outside', kernel: 'lanczos2' }],
  ['image.resize', { height: 500, kernel: 'nearest' }],
  ['image.thumbnail', { width: 120 }],
  ['image.thumbnail', { width: 120, height: 80, fit: 'cover' }],
  ['image.crop', { left: 10, top: 20, width: 100, height: 50 }],
  ['image.rotate', { angle: 90 }],
  ['image.rotate', { angle: 180, auto_orient: false }],
  ['image.rotate', { angle: 270 }],
  ['image.flip', { direction: 'horizontal' }],
  ['image.flip', { direction: 'vertical' }],
  ['image.grayscale', {}],
  ['image.blur', { sigma: 2.5 }],
  ['image.linear', { brightness: 20, contrast: 1.3 }],
  ['image.invert', {}],
  ['image.convert', { format: 'png' }],
  [
    'image.pipeline',
    {
      steps: [
        { op: 'rotate', angle: 90 },
        { op: 'resize', width: 77 },
        { op: 'blur', sigma: 1 },
        { op: 'grayscale' },
        { op: 'invert' },
      ],
    },
  ],
  [
    'image.pipeline',
    {
      steps: [
        { op: 'crop', left: 5, top: 5, width: 200, height: 150 },
        { op: 'thumbnail', width: 64 },
        { op: 'linear', contrast: 0.5 },
        { op: 'flip', direction: 'vertical' },
      ],
    },
  ],
];

describe('the runtime agrees with sharp', () => {
  test.each(CALLS)('%s %j: same names and sizes, pixels within the rule', async (op, params) => {
    const p = { ...params, format: 'png' };
    expect(getMethod(op).compare).toEqual(IMAGE_COMPARE);
    for (const input of inputs) {
      const { tab, ref } = await both(host, op, p, [input]);
      expect(tab.summary).toEqual(ref.summary);
      expect(tab.outputs.map((o) => [o.name, o.contentType])).toEqual([
        [input.name.replace(/\.[a-z]+$/, '.png'), 'image/png'],
      ]);
      expect(await maxPixelDiff(tab.outputs[0]!.bytes, ref.outputs[0]!.bytes)).toBeLessThanOrEqual(
        IMAGE_COMPARE.maxDiff,
      );
    }
  });

  test.each([
    ['jpeg', 'image/jpeg', '.jpg'],
    ['webp', 'image/webp', '.webp'],
  ])('lossy %s output at quality 75 agrees, and is smaller at quality 20', async (format, type, ext) => {
    for (const input of inputs) {
      const { tab, ref } = await both(host, 'image.resize', { width: 160, format, quality: 75 }, [input]);
      expect(tab.outputs[0]!.name).toBe(input.name.replace(/\.[a-z]+$/, ext));
      expect(tab.outputs[0]!.contentType).toBe(type);
      expect(await maxPixelDiff(tab.outputs[0]!.bytes, ref.outputs[0]!.bytes)).toBeLessThanOrEqual(
        IMAGE_COMPARE.maxDiff,
      );
      const low = await host.run(
        'image.resize',
        { width: 160, format, quality: 20 },
        [input],
        imageContext(),
      );
      expect(low.outputs[0]!.bytes.byteLength).toBeLessThan(tab.outputs[0]!.bytes.byteLength);
    }
  });

  test('a 4000x3000 JPEG resized to 800 wide, as sharp does it', async () => {
    const big = await rawImage(4000, 3000, 3, 9).jpeg({ quality: 85 }).toBuffer();
    const input = { name: 'big.jpeg', contentType: 'image/jpeg', bytes: new Uint8Array(big) };
    const { tab, ref } = await both(host, 'image.resize', { width: 800 }, [input]);
    expect(tab.summary).toEqual({ 'big.jpeg': '800x600' });
    expect(ref.summary).toEqual({ 'big.jpeg': '800x600' });
    expect(await maxPixelDiff(tab.outputs[0]!.bytes, ref.outputs[0]!.bytes)).toBeLessThanOrEqual(
      IMAGE_COMPARE.maxDiff,
    );
  });
});

describe('what each method does, pixel for pixel', () => {
  const rgba = () => inputs[1]!;
  const grey = () => inputs[2]!;

  test('crop and flip equal the exact pixels of the input moved', async () => {
    const source = await rawOf(rgba().bytes);
    const crop = await host.run(
      'image.crop',
      { left: 7, top: 3, width: 50, height: 40 },
      [rgba()],
      imageContext(),
    );
    const want = await sharp(rgba().bytes)
      .extract({ left: 7, top: 3, width: 50, height: 40 })
      .raw()
      .toBuffer();
    expect((await rawOf(crop.outputs[0]!.bytes)).data).toEqual(new Uint8Array(want));
    const flop = await host.run('image.flip', { direction: 'horizontal' }, [rgba()], imageContext());
    const out = await rawOf(flop.outputs[0]!.bytes);
    const { width, channels } = source;
    for (const [x, y] of [
      [0, 0],
      [319, 239],
      [100, 57],
    ] as const) {
      const at = (y * width + x) * channels;
      const mirrored = (y * width + (width - 1 - x)) * channels;
      expect([...out.data.subarray(at, at + 4)]).toEqual([...source.data.subarray(mirrored, mirrored + 4)]);
    }
  });

  test('invert gives 255 minus each grey value; linear gives contrast × (v − 128) + 128 + brightness', async () => {
    const source = await rawOf(grey().bytes);
    const inverted = await rawOf(
      (await host.run('image.invert', {}, [grey()], imageContext())).outputs[0]!.bytes,
    );
    expect(inverted.channels).toBe(1);
    expect(inverted.data).toEqual(source.data.map((v) => 255 - v));
    const params = { brightness: 10, contrast: 2 };
    const linear = await rawOf(
      (await host.run('image.linear', params, [grey()], imageContext())).outputs[0]!.bytes,
    );
    expect(linear.data).toEqual(
      source.data.map((v) => Math.min(255, Math.max(0, Math.round(2 * (v - 128) + 138)))),
    );
  });

  test('rotate turns an EXIF-6 JPEG upright first; auto_orient false only rotates', async () => {
    const oriented = inputs[6]!; // stored 300x200, shown 200x300
    const upright = await host.run('image.rotate', {}, [oriented], imageContext());
    expect(upright.summary).toEqual({ 'oriented-6.jpg': '200x300' });
    const ninety = await host.run(
      'image.rotate',
      { angle: 90, auto_orient: false },
      [oriented],
      imageContext(),
    );
    expect(ninety.summary).toEqual({ 'oriented-6.jpg': '200x300' });
    const both90 = await host.run('image.rotate', { angle: 90 }, [oriented], imageContext());
    expect(both90.summary).toEqual({ 'oriented-6.jpg': '300x200' });
    const thumb = await host.run('image.thumbnail', { width: 100 }, [oriented], imageContext());
    expect(thumb.summary).toEqual({ 'oriented-6.jpg': '67x100' });
    const tall = await host.run('image.thumbnail', { width: 100, height: 1000 }, [oriented], imageContext());
    expect(tall.summary).toEqual({ 'oriented-6.jpg': '100x150' });
  });
});

describe('outputs', () => {
  test('one output per input, named with the new extension; a GIF gives a PNG; progress per input', async () => {
    const ctx = imageContext();
    const cat = { ...inputs[1]!, name: 'cat.png' };
    const result = await host.run(
      'image.grayscale',
      { format: 'jpeg' },
      [cat, { ...cat, name: 'cat.PNG' }, jpg],
      ctx,
    );
    expect(result.outputs.map((o) => o.name)).toEqual(['cat.jpg', 'cat-2.jpg', 'rgb.jpg']);
    expect(result.summary).toEqual({ 'cat.jpg': '320x240', 'cat-2.jpg': '320x240', 'rgb.jpg': '320x240' });
    expect(ctx.reports).toEqual([(1 / 3) * 100, (2 / 3) * 100, 100]);
    const gif = await host.run('image.flip', { direction: 'vertical' }, [inputs[5]!], imageContext());
    expect(gif.outputs.map((o) => [o.name, o.contentType])).toEqual([['rgba.png', 'image/png']]);
    const kept = await host.run('image.invert', {}, [{ ...jpg, name: 'photo.jpeg' }], imageContext());
    expect(kept.outputs.map((o) => [o.name, o.contentType])).toEqual([['photo.jpeg', 'image/jpeg']]);
  });

  test('a stop between inputs ends the job with the outputs so far', async () => {
    const ctx = imageContext();
    const stopAfterFirst = { ...ctx, progress: (pct: number) => ctx.stop(`stopped at ${pct}`) };
    const result = await host.run('image.invert', {}, [jpg, inputs[1]!], stopAfterFirst);
    expect(result.outputs.map((o) => o.name)).toEqual(['rgb.jpg']);
    expect(result.summary).toEqual({ 'rgb.jpg': '320x240', stopped: 'stopped at 50' });
  });
});
