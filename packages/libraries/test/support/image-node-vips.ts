// wasm-vips in Node, behind the tab's interface: the browser glue (vips-es6.js) starts its pthreads
// as Web Workers, which Node has not, so tests use the package's Node glue (worker_threads) with the
// same vips.wasm, its bytes read through the RuntimeContext as the tab's are.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { VIPS_PACKAGE, VIPS_WASM, type VipsGlue, type VipsGlueLoader } from '../../src/runtime/image.ts';
import type { RuntimeContext } from '../../src/runtime/index.ts';
import { type NodeContext, nodeContext } from './node-context.ts';

/** The Node glue of the package (tests only; the tab fetches `lib/vips-es6.js`). */
export const NODE_GLUE = 'lib/vips-node.mjs';

/**
 * wasm-vips' directory: its `exports` hide `package.json`, which node-context's lookup resolves,
 * so it is found from the package's main entry (`lib/vips-node.js`) instead.
 */
export const VIPS_DIR = dirname(dirname(createRequire(import.meta.url).resolve(VIPS_PACKAGE)));

/** nodeContext('image') reading wasm-vips' files from its directory (recorded in `fetched`). */
export function imageContext(limits: Partial<RuntimeContext['limits']> = {}): NodeContext {
  const ctx = nodeContext('image', limits);
  return Object.assign(ctx, {
    file: async (pkg: string, path: string) => {
      if (pkg !== VIPS_PACKAGE) throw new Error(`image fetched ${pkg}/${path}`);
      ctx.fetched.push(`${pkg}/${path}`);
      return new Uint8Array(readFileSync(join(VIPS_DIR, path)));
    },
    url: (pkg: string, path: string) => {
      if (pkg !== VIPS_PACKAGE) throw new Error(`image asked for ${pkg}/${path}`);
      return pathToFileURL(join(VIPS_DIR, path)).href;
    },
  });
}

export const nodeGlue: VipsGlueLoader = async (ctx) => {
  const wasm = await ctx.file(VIPS_PACKAGE, VIPS_WASM);
  const glue = (await import(ctx.url(VIPS_PACKAGE, NODE_GLUE))) as { default: VipsGlue['factory'] };
  return { factory: glue.default, wasm };
};
