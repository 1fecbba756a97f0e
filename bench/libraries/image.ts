// image.resize on wasm-vips 0.0.19 (the tab's vips.wasm, run in Node through the tab's runtime
// with the package's Node glue: see packages/libraries/test/support/image-node-vips.ts) against
// sharp 0.35 (native libvips) per core: generated 4000x3000 JPEGs resized to 800 px wide (lanczos3,
// JPEG quality 80 out), one image at a time, libvips on one thread on both sides (wasm-vips
// concurrency 1, sharp.concurrency(1), sharp's cache off). The two run interleaved, image by image,
// so that a busy machine slows both alike. Also prints wasm-vips' cold load (glue imported, WASM
// compiled, pthread pool started) and the bytes of the files a tab fetches (LIBRARY_FILES.image).
//
//   npx tsx bench/libraries/image.ts [--count N (100)] [--width W (800)]
import { statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { LIBRARY_FILES } from '../../packages/libraries/src/index.ts';
import { maxPixelDiff } from '../../packages/libraries/src/reference/image-compare.ts';
import { createImageRuntime } from '../../packages/libraries/src/runtime/image.ts';
import { LibraryHost, type LibraryInput } from '../../packages/libraries/src/runtime/index.ts';
import { pixels } from '../../packages/libraries/test/support/image-fixtures.ts';
import { imageContext, nodeGlue, VIPS_DIR } from '../../packages/libraries/test/support/image-node-vips.ts';
import { intOption } from './options.ts';

const COUNT = intOption('--count', 100);
const WIDTH = intOption('--width', 800);
const [W, H] = [4000, 3000];

/**
 * `COUNT` distinct 4000x3000 JPEGs (quality 85): one seeded gradient-and-noise image, brightened
 * by a few levels and mirrored in turn.
 */
async function generate(): Promise<LibraryInput[]> {
  const base = pixels(W, H, 3, 11);
  const images: LibraryInput[] = [];
  for (let i = 0; i < COUNT; i++) {
    let image = sharp(base, { raw: { width: W, height: H, channels: 3 } }).linear(1, (i % 32) - 16);
    if (i % 2) image = image.flop();
    const jpeg = await image.jpeg({ quality: 85 }).toBuffer();
    images.push({ name: `photo-${i}.jpg`, contentType: 'image/jpeg', bytes: new Uint8Array(jpeg) });
  }
  return images;
}

const native = (input: LibraryInput) =>
  sharp(input.bytes, { failOn: 'error' })
    .resize({ width: WIDTH, kernel: 'lanczos3' })
    .jpeg({ quality: 80 })
    .toBuffer();

async function main(): Promise<void> {
  sharp.concurrency(1);
  sharp.cache(false);
  const t0 = performance.now();
  const images = await generate();
  const mib = images.reduce((sum, im) => sum + im.bytes.byteLength, 0) / 2 ** 20;
  console.log(
    `${COUNT} JPEGs of ${W}x${H} generated in ${((performance.now() - t0) / 1000).toFixed(1)} s (${mib.toFixed(0)} MiB)`,
  );

  const runtime = createImageRuntime(nodeGlue);
  const ctx = imageContext();
  const coldStart = performance.now();
  await runtime.load(ctx);
  const coldMs = performance.now() - coldStart;
  const host = new LibraryHost({ image: async () => runtime });

  // One untimed job each (first-call costs), and the two outputs compared.
  const first = images[0]!;
  const [tab, ref] = [await host.run('image.resize', { width: WIDTH }, [first], ctx), await native(first)];
  const diff = await maxPixelDiff(tab.outputs[0]!.bytes, new Uint8Array(ref));

  let wasmMs = 0;
  let nativeMs = 0;
  for (const image of images) {
    const a = performance.now();
    await native(image);
    const b = performance.now();
    await host.run('image.resize', { width: WIDTH }, [image], ctx);
    const c = performance.now();
    nativeMs += b - a;
    wasmMs += c - b;
  }
  const rate = (ms: number) => (COUNT * 1000) / ms;
  const bytes = LIBRARY_FILES.image.map((f) => ({
    path: f.path,
    size: statSync(join(VIPS_DIR, f.path)).size,
  }));
  const total = bytes.reduce((sum, f) => sum + f.size, 0);
  console.log(`resize ${W}x${H} JPEG → ${WIDTH} px wide, JPEG q80, one thread, one image at a time:`);
  console.log(
    `  sharp (native libvips)  ${rate(nativeMs).toFixed(2)} images/s  (${(nativeMs / COUNT).toFixed(1)} ms each)`,
  );
  console.log(
    `  wasm-vips (tab's WASM)  ${rate(wasmMs).toFixed(2)} images/s  (${(wasmMs / COUNT).toFixed(1)} ms each)`,
  );
  console.log(`  ratio wasm/native       ${(nativeMs / wasmMs).toFixed(2)}x  (target >= 0.5x)`);
  console.log(`  outputs' largest pixel difference: ${diff} (rule: at most 2)`);
  console.log(
    `wasm-vips cold load: ${coldMs.toFixed(0)} ms (Node glue imported, vips.wasm compiled, threads started)`,
  );
  console.log(
    `files a tab fetches: ${bytes.map((f) => `${f.path} ${f.size} B`).join(', ')}; total ${(total / 2 ** 20).toFixed(2)} MiB`,
  );
  // wasm-vips' pthread pool keeps Node's event loop alive.
  process.exit(0);
}

await main();
