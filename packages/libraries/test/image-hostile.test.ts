// image.* refusing what it must: decompression bombs before a pixel is decoded, truncated and
// foreign bytes, upscales past the pixel limit, bad params by field (pipeline steps included), and
// a runtime that serves the next job after each refusal and keeps its memory over 50 jobs.
import { beforeAll, describe, expect, test } from 'vitest';
import { checkLibraryCall } from '../src/index.ts';
import { runReference } from '../src/reference/index.ts';
import { MAX_PIXELS } from '../src/runtime/image-plan.ts';
import {
  type Fixture,
  fixtures,
  gifBomb,
  jpegBomb,
  pngBomb,
  rawImage,
  webpBomb,
} from './support/image-fixtures.ts';
import { imageContext } from './support/image-node-vips.ts';
import { codeOf, imageHost } from './support/image-runtime.ts';

const { runtime, host } = imageHost();
let jpg: Fixture;
const asInput = (name: string, bytes: Uint8Array): Fixture => ({ name, contentType: 'image/x', bytes });

beforeAll(async () => {
  jpg = (await fixtures(64, 48))[0]!;
  await host.run('image.invert', {}, [jpg], imageContext());
});

/** Runs a call that must fail on the runtime and on the reference alike; then a good job. */
async function refusedByBoth(op: string, params: object, inputs: Fixture[]): Promise<string> {
  const tab = await codeOf(() => host.run(op, params, inputs, imageContext()));
  expect(await codeOf(() => runReference(op, params, inputs))).toBe(tab);
  const next = await host.run('image.resize', { width: 32 }, [jpg], imageContext());
  expect(next.summary).toEqual({ 'rgb.jpg': '32x24' });
  return tab;
}

describe('decompression bombs are refused from their headers', () => {
  test.each([
    ['PNG', () => pngBomb(50_000, 50_000)],
    ['JPEG', () => jpegBomb(50_000, 50_000)],
    ['GIF', () => gifBomb(50_000, 50_000)],
    ['WebP', () => webpBomb(16_000, 16_000)],
  ])('a %s declaring more than 100 megapixels: PIXEL_LIMIT, WASM memory unchanged', async (_, make) => {
    const bomb = await make();
    expect(bomb.bytes.byteLength).toBeLessThan(2_000);
    const before = runtime.memoryBytes();
    expect(await refusedByBoth('image.resize', { width: 100 }, [jpg, bomb])).toBe('PIXEL_LIMIT inputs[1]');
    expect(runtime.memoryBytes()).toBe(before);
  });

  test('the limit follows the job memory: 10,000 x 10,000 passes the default, not 4,096 pages', async () => {
    const bomb = await pngBomb(10_000, 10_000);
    expect(10_000 * 10_000).toBeLessThanOrEqual(MAX_PIXELS);
    const small = imageContext({ memoryPages: 4_096 }); // 256 MiB: 32 megapixels
    expect(await codeOf(() => host.run('image.invert', {}, [bomb], small))).toBe('PIXEL_LIMIT inputs[0]');
  });

  test('an upscale past the limit is refused before it is computed, naming the step', async () => {
    const big = { width: 16_000, height: 16_000, fit: 'fill' };
    expect(await refusedByBoth('image.resize', big, [jpg])).toBe('PIXEL_LIMIT params');
    const steps = [
      { op: 'rotate', angle: 90 },
      { op: 'resize', ...big },
    ];
    expect(await refusedByBoth('image.pipeline', { steps }, [jpg])).toBe('PIXEL_LIMIT params.steps[1]');
  });
});

describe('unreadable inputs', () => {
  test('a truncated JPEG fails (libvips fails on decoder errors) with INVALID_INPUT', async () => {
    const whole = (await rawImage(320, 240, 3).jpeg().toBuffer()).subarray(0, 6_000);
    const truncated = asInput('cut.jpg', new Uint8Array(whole));
    expect(await refusedByBoth('image.blur', { sigma: 1 }, [truncated])).toBe('INVALID_INPUT inputs[0]');
  });

  test.each([
    ['text', new TextEncoder().encode('hello, not an image at all')],
    ['empty bytes', new Uint8Array(0)],
    [
      'an SVG (untrusted loader)',
      new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><rect/></svg>'),
    ],
  ])('%s: INVALID_INPUT', async (_, bytes) => {
    expect(await refusedByBoth('image.invert', {}, [asInput('x.bin', bytes)])).toBe(
      'INVALID_INPUT inputs[0]',
    );
  });

  test('a TIFF (a loader libvips has but the methods do not take) is refused: INVALID_INPUT', async () => {
    const tiff = new Uint8Array(await rawImage(32, 24, 3).tiff().toBuffer());
    expect(await refusedByBoth('image.invert', {}, [asInput('x.tiff', tiff)])).toBe(
      'INVALID_INPUT inputs[0]',
    );
  });
});

describe('params', () => {
  test.each([
    ['image.resize', {}, 'INVALID_PARAMS params.width'],
    ['image.resize', { width: 0 }, 'INVALID_PARAMS params.width'],
    ['image.resize', { width: 10, kernel: 'bicubic' }, 'INVALID_PARAMS params.kernel'],
    ['image.rotate', { angle: 45 }, 'INVALID_PARAMS params.angle'],
    ['image.blur', { sigma: 0 }, 'INVALID_PARAMS params.sigma'],
    ['image.convert', { format: 'gif' }, 'INVALID_PARAMS params.format'],
    ['image.convert', { quality: 80 }, 'INVALID_PARAMS params.format'],
    ['image.invert', { widht: 3 }, 'INVALID_PARAMS params.widht'],
    ['image.pipeline', { steps: [] }, 'INVALID_PARAMS params.steps'],
    ['image.pipeline', { steps: [{ op: 'invert' }, { op: 'blur' }] }, 'INVALID_PARAMS params.steps[1].sigma'],
    [
      'image.pipeline',
      { steps: [{ op: 'thumbnail', width: 9, fit: 'fill' }] },
      'INVALID_PARAMS params.steps[0].fit',
    ],
    ['image.pipeline', { steps: [{ op: 'invert', sigma: 2 }] }, 'INVALID_PARAMS params.steps[0].sigma'],
    ['image.pipeline', { steps: [{ op: 'convert' }] }, 'INVALID_PARAMS params.steps[0].op'],
    ['image.pipeline', { steps: [{ op: 'rotate', angle: 100 }] }, 'INVALID_PARAMS params.steps[0].angle'],
  ])('%s %j: %s', async (op, params, want) => {
    expect(await codeOf(async () => checkLibraryCall(op, params, 1))).toBe(want);
    expect(await codeOf(() => host.run(op, params, [jpg], imageContext()))).toBe(want);
  });

  test('a crop outside the image is refused, naming the side, on both sides', async () => {
    const crop = { left: 40, top: 0, width: 30, height: 10 };
    expect(await refusedByBoth('image.crop', crop, [jpg])).toBe('INVALID_PARAMS params.width');
    const steps = [
      { op: 'resize', width: 32 },
      { op: 'crop', left: 0, top: 20, width: 10, height: 10 },
    ];
    expect(await refusedByBoth('image.pipeline', { steps }, [jpg])).toBe(
      'INVALID_PARAMS params.steps[1].height',
    );
  });

  test('33 inputs: INPUT_COUNT; inputs past maxInputBytes: INPUT_TOO_LARGE', async () => {
    const many = Array.from({ length: 33 }, () => jpg);
    expect(await codeOf(() => host.run('image.invert', {}, many, imageContext()))).toBe('INPUT_COUNT inputs');
    const tight = imageContext({ maxInputBytes: jpg.bytes.byteLength });
    expect(await codeOf(() => host.run('image.invert', {}, [jpg, jpg], tight))).toBe(
      'INPUT_TOO_LARGE inputs[1]',
    );
  });
});

test('50 jobs in a row: every vips object freed, WASM memory flat after the first few', async () => {
  const input = asInput('b.png', new Uint8Array(await rawImage(1000, 750, 4).png().toBuffer()));
  const steps = [
    { op: 'rotate', angle: 90 },
    { op: 'blur', sigma: 1 },
    { op: 'resize', width: 300 },
  ];
  const memory: number[] = [];
  const allocations: number[] = [];
  for (let i = 0; i < 50; i++) {
    const result = await host.run('image.pipeline', { steps }, [input], imageContext());
    expect(result.summary).toEqual({ 'b.png': '300x400' });
    memory.push(runtime.memoryBytes());
    allocations.push(runtime.vipsAllocations());
  }
  // A leaked handle per job holds its decoded 3 MB image: allocations climb by 7 a job (350 after
  // 50) and the memory by ~100 MiB every ten jobs (measured with free() disabled). Freed, the count
  // is 0 after a job, or 44 (seen; 64 allowed) when libvips' worker thread has not yet dropped its buffers.
  expect(memory[49]).toBe(memory[4]);
  expect(Math.max(...allocations)).toBeLessThan(64);
});
