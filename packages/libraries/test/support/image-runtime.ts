// The tab's image runtime in Node for tests: one LibraryHost on wasm-vips (Node glue, the tab's
// vips.wasm), and helpers to run a call on it and on the sharp reference.
import sharp from 'sharp';
import { LibraryError } from '../../src/index.ts';
import { runReference } from '../../src/reference/index.ts';
import { createImageRuntime } from '../../src/runtime/image.ts';
import { LibraryHost, type LibraryInput, type LibraryResult } from '../../src/runtime/index.ts';
import { imageContext, nodeGlue } from './image-node-vips.ts';

export function imageHost() {
  const runtime = createImageRuntime(nodeGlue);
  const host = new LibraryHost({ image: async () => runtime });
  return { runtime, host };
}

/** `code field` of the LibraryError that `run` throws, or 'no error'. */
export async function codeOf(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (err) {
    if (err instanceof LibraryError) return `${err.code} ${err.field}`;
    throw err;
  }
  return 'no error';
}

/** The runtime's and the reference's results of one call. */
export async function both(
  host: LibraryHost,
  op: string,
  params: object,
  inputs: LibraryInput[],
  ctx = imageContext(),
): Promise<{ tab: LibraryResult; ref: LibraryResult }> {
  const tab = await host.run(op, params, inputs, ctx);
  const ref = await runReference(op, params, inputs);
  return { tab, ref };
}

/** Decoded pixels of an encoded image (grey stays one channel). */
export async function rawOf(bytes: Uint8Array) {
  const image = sharp(bytes);
  // sharp gives sRGB raw pixels unless told to keep grey.
  if ((await image.metadata()).space === 'b-w') image.toColourspace('b-w');
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels };
}
