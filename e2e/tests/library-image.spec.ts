// image.* (#15) in real Chromium against a real coordinator: the tab's executor loads wasm-vips
// (its ES-module glue imported from a Blob URL of hash-checked bytes, its pthread Workers started
// from it, vips.wasm compiled from checked bytes) and every method's outputs agree with the Node
// reference (sharp, native libvips) under the method's rule: decoded pixels at most 2 apart, as
// reference/image-compare.ts measures them for spot checks. The first job loads the library (cold:
// both files fetched), the second finds it warm; a decompression bomb fails PIXEL_LIMIT and a
// truncated JPEG INVALID_INPUT, neither retried, and the tab serves the next job; so do a TIFF, an
// SVG and a WebP without a size, read where they lie (the executor's shared arena).
import { getMethod, LIBRARY_FILES } from '@flock/libraries';
import { libraryManifest } from '@flock/libraries/node';
import { runReference } from '@flock/libraries/reference';
import { type Browser, expect, test } from '@playwright/test';
import { maxPixelDiff } from '../../packages/libraries/src/reference/image-compare.ts';
import {
  type Fixture,
  fixtures,
  orientedJpeg,
  pngBomb,
  rawImage,
} from '../../packages/libraries/test/support/image-fixtures.ts';
import { launchChromium } from '../support/chromium.ts';
import { openVolunteerTab } from '../support/volunteer-tab.ts';
import { Harness, libraryTask, type ResultView, taskId } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

let harness: Harness;
let browser: Browser;
let inputs: Fixture[];

test.beforeAll(async () => {
  inputs = [...(await fixtures(160, 120)), await orientedJpeg(6, 150, 100)];
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: false });
  await openVolunteerTab(browser, `${harness.url}/`);
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

/** Runs `op` in the tab and checks it against the reference under the method's rule. */
async function agrees(op: string, params: object, files: Fixture[] = inputs): Promise<ResultView> {
  const id = taskId(op.replace('.', '-'));
  await harness.submit(libraryTask(id, op, params, files));
  const view = await harness.waitFor(id, 'succeeded');
  expect(view.executor).toBe('library:image');
  const result = await harness.result(id);
  const reference = await runReference(op, params, files);
  expect(result.summary).toEqual(reference.summary);
  const names = reference.outputs.map((o) => o.name);
  expect(result.outputs?.map((o) => o.name).sort()).toEqual([...names].sort());
  const rule = getMethod(op).compare;
  if (rule.kind !== 'pixels') throw new Error(`${op} is not compared by pixels`);
  for (const want of reference.outputs) {
    const diff = await maxPixelDiff(await harness.output(result, want.name), want.bytes);
    expect(diff, `${op} ${want.name}`).toBeLessThanOrEqual(rule.maxDiff);
  }
  return result;
}

test('image.resize in the tab agrees with sharp; cold first (files fetched), warm second', async () => {
  const first = await agrees('image.resize', { width: 80 });
  expect(first.summary?.['rgb.jpg']).toBe('80x60');
  expect(first.metrics?.['library_warm']).toBe('0');
  const manifest = libraryManifest();
  const bytes = LIBRARY_FILES.image.reduce((sum, f) => sum + manifest[f.package]!.files[f.path]!.bytes, 0);
  expect(bytes).toBeGreaterThan(5_000_000); // vips.wasm and its glue
  expect(first.metrics?.['library_fetched_bytes']).toBe(String(bytes));
  const second = await agrees('image.resize', {
    width: 100,
    height: 100,
    fit: 'contain',
    kernel: 'mitchell',
  });
  expect(second.metrics?.['library_warm']).toBe('1');
  expect(second.metrics?.['library_fetched_bytes']).toBeUndefined();
  test.info().annotations.push({
    type: 'figures',
    description: `cold job ${first.metrics?.['library_ms']} ms, warm job ${second.metrics?.['library_ms']} ms`,
  });
});

test('every other method agrees with sharp, with JPEG, PNG and WebP outputs', async () => {
  await agrees('image.thumbnail', { width: 64, height: 48, fit: 'cover' });
  await agrees('image.crop', { left: 10, top: 5, width: 60, height: 40 });
  const rotated = await agrees('image.rotate', { angle: 90 });
  expect(rotated.summary?.['oriented-6.jpg']).toBe('150x100'); // upright 100x150, then turned
  await agrees('image.flip', { direction: 'horizontal' });
  await agrees('image.grayscale', { format: 'png' });
  await agrees('image.blur', { sigma: 1.5 });
  await agrees('image.linear', { brightness: -10, contrast: 1.2, format: 'webp', quality: 70 });
  await agrees('image.invert', { format: 'jpeg', quality: 60 });
  const converted = await agrees('image.convert', { format: 'webp' });
  expect(converted.outputs?.map((o) => o.name)).toContain('rgba.webp');
  await agrees('image.pipeline', {
    steps: [
      { op: 'rotate' },
      { op: 'resize', width: 90, kernel: 'lanczos2' },
      { op: 'grayscale' },
      { op: 'invert' },
    ],
    format: 'png',
  });
});

test('a bomb fails PIXEL_LIMIT and a truncated JPEG INVALID_INPUT, not retried; the tab serves the next job', async () => {
  const bomb = await pngBomb(50_000, 50_000);
  const bombId = taskId('image-bomb');
  await harness.submit(libraryTask(bombId, 'image.invert', {}, [inputs[0]!, bomb]));
  const bombed = await harness.waitFor(bombId, 'failed');
  expect(bombed.failure?.code).toBe('PIXEL_LIMIT');
  expect(bombed.failure?.message).toMatch(/50000x50000 .* more than the limit of 100000000/);
  expect(bombed.attempts).toHaveLength(1);

  const whole = await rawImage(160, 120, 3).jpeg().toBuffer();
  const cut = { name: 'cut.jpg', contentType: 'image/jpeg', bytes: new Uint8Array(whole.subarray(0, 2_000)) };
  const cutId = taskId('image-cut');
  await harness.submit(libraryTask(cutId, 'image.blur', { sigma: 1 }, [cut]));
  const truncated = await harness.waitFor(cutId, 'failed');
  expect(truncated.failure?.code).toBe('INVALID_INPUT');
  expect(truncated.attempts).toHaveLength(1);

  const after = await agrees('image.flip', { direction: 'vertical' }, [inputs[1]!]);
  expect(after.summary).toEqual({ 'rgba.png': '160x120' });
  expect(after.metrics?.['library_warm']).toBe('1');
});

test('a TIFF, an SVG and a WebP without a readable size fail INVALID_INPUT in the tab (whose inputs lie in shared memory), not LIBRARY_ERROR', async () => {
  const tiff = new Uint8Array(await rawImage(32, 24, 3).tiff().toBuffer());
  const svg = new TextEncoder().encode(
    '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><image href="file:///etc/passwd"/></svg>',
  );
  // RIFF....WEBP and a chunk no size can be read from.
  const webp = new Uint8Array([...new TextEncoder().encode('RIFF\x10\x00\x00\x00WEBPJUNK'), 0, 0, 0, 0]);
  const cases = [
    {
      name: 'x.tiff',
      contentType: 'image/tiff',
      bytes: tiff,
      message: /^inputs\[0\]: x\.tiff is not a JPEG, PNG, WebP or GIF image$/,
    },
    {
      name: 'x.svg',
      contentType: 'image/svg+xml',
      bytes: svg,
      message: /^inputs\[0\]: x\.svg is not a JPEG, PNG, WebP or GIF image$/,
    },
    {
      name: 'x.webp',
      contentType: 'image/webp',
      bytes: webp,
      message: /^inputs\[0\]: x\.webp: a WebP without a readable size$/,
    },
  ];
  for (const c of cases) {
    const id = taskId('image-refused');
    await harness.submit(libraryTask(id, 'image.invert', {}, [c]));
    const view = await harness.waitFor(id, 'failed');
    expect(view.failure?.code, view.failure?.message).toBe('INVALID_INPUT');
    expect(view.failure?.message).toMatch(c.message);
    expect(view.attempts).toHaveLength(1);
  }
  const after = await agrees('image.invert', {}, [inputs[0]!]);
  expect(after.metrics?.['library_warm']).toBe('1');
});
