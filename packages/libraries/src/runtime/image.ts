// image.* in the tab: wasm-vips (libvips 8.18 compiled to WASM with pthreads). Its glue and WASM
// come only through the RuntimeContext (hash-checked bytes): the ES-module glue is imported from a
// Blob URL, which is also where its pthread Workers start (emscripten's mainScriptUrlOrBlob), and
// the WASM is instantiated from the checked bytes (instantiateWasm), so nothing is fetched by URL.
// The side modules (HEIF/AVIF, JPEG XL, SVG) are left out: JPEG, PNG, WebP and GIF are in the core.
import { LibraryError } from '../library-error.ts';
import type { CheckedCall } from '../registry.ts';
import {
  checkDeclared,
  checkPlan,
  libraryErrorOf,
  maxPixels,
  outputName,
  outputOf,
  type Step,
  stepPath,
  stepsOf,
} from './image-plan.ts';
import { ALLOWED_LOADERS, type Vips, VipsImageJob } from './image-vips.ts';
import type {
  LibraryInput,
  LibraryOutput,
  LibraryResult,
  LibraryRuntime,
  RuntimeContext,
} from './runtime.ts';

export const VIPS_PACKAGE = 'wasm-vips';
/** The files of wasm-vips the tab fetches (LIBRARY_FILES.image lists them). */
export const VIPS_GLUE = 'lib/vips-es6.js';
export const VIPS_WASM = 'lib/vips.wasm';

/** A wasm-vips build brought in: its glue's factory, the WASM bytes, and where pthread Workers start. */
export interface VipsGlue {
  factory: (module: object) => Promise<Vips>;
  wasm: Uint8Array;
  /** The glue's URL for its pthread Workers; a glue that finds its own file (Node's) needs none. */
  workerUrl?: string;
}

export type VipsGlueLoader = (ctx: RuntimeContext) => Promise<VipsGlue>;

// The few WebAssembly APIs used here: lib.dom types them in the tab, but the Node programs that
// type-check the tests have no WebAssembly types (@types/node 20), so they are stated here.
interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}
interface WasmApi {
  compile(bytes: Uint8Array<ArrayBuffer>): Promise<object>;
  instantiate(module: object, imports: object): Promise<object>;
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** A copy where `bytes` is a view of shared memory (Blob and WebAssembly want a plain buffer). */
const plain = (bytes: Uint8Array): Uint8Array<ArrayBuffer> =>
  bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);

/** The browser's glue: the ES module and the WASM, fetched and checked through the context. */
export const browserGlue: VipsGlueLoader = async (ctx) => {
  const [glue, wasm] = await Promise.all([
    ctx.file(VIPS_PACKAGE, VIPS_GLUE),
    ctx.file(VIPS_PACKAGE, VIPS_WASM),
  ]);
  const url = URL.createObjectURL(new Blob([plain(glue)], { type: 'text/javascript' }));
  const module = (await import(/* @vite-ignore */ url)) as { default: VipsGlue['factory'] };
  return { factory: module.default, wasm, workerUrl: url };
};

/** The image runtime, and how much WASM memory its libvips holds (for tests and metrics). */
export interface ImageRuntime extends LibraryRuntime {
  /** Bytes of WASM memory now (it grows in 64 KiB pages and never shrinks). */
  memoryBytes(): number;
  /** libvips' live allocations (its own count): back to the same number after every job. */
  vipsAllocations(): number;
}

/** Starts wasm-vips from `glue`: one worker thread per image (per-core figures), no operation cache. */
async function start(glue: VipsGlue): Promise<{ vips: Vips; memory: WasmMemory }> {
  const compiled = await Wasm.compile(plain(glue.wasm));
  let memory: WasmMemory | undefined;
  let fail: (err: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const module = {
    dynamicLibraries: [],
    ...(glue.workerUrl ? { mainScriptUrlOrBlob: glue.workerUrl } : {}),
    locateFile: (path: string) => {
      throw new Error(`wasm-vips asked for ${path}, which the tab does not fetch`);
    },
    instantiateWasm: (
      imports: { env: { memory: WasmMemory } },
      done: (instance: object, module: object) => void,
    ) => {
      memory = imports.env.memory;
      Wasm.instantiate(compiled, imports).then((instance) => done(instance, compiled), fail);
      return {};
    },
    onAbort: (what: unknown) => fail(new Error(`wasm-vips aborted: ${String(what)}`)),
    print: () => undefined,
    printErr: () => undefined,
  };
  const vips = await Promise.race([glue.factory(module), failed]);
  vips.concurrency(1);
  vips.Cache.max(0);
  vips.blockUntrusted(true);
  vips.operationBlock('VipsForeignLoad', true);
  for (const loader of ALLOWED_LOADERS) vips.operationBlock(loader, false);
  if (!memory) throw new Error('wasm-vips started without its memory');
  return { vips, memory };
}

/** The image runtime on the wasm-vips that `loadGlue` brings (the tab's: `browserGlue`). */
export function createImageRuntime(loadGlue: VipsGlueLoader): ImageRuntime {
  let started: { vips: Vips; memory: WasmMemory } | undefined;
  return {
    async load(ctx) {
      if (started) return;
      if (!ctx.threads)
        throw new LibraryError(
          'LIBRARY_LOAD_FAILED',
          'wasm-vips needs SharedArrayBuffer and WASM threads: a cross-origin-isolated page',
        );
      started = await start(await loadGlue(ctx));
    },
    async run(call, inputs, ctx) {
      if (!started) throw new LibraryError('LIBRARY_LOAD_FAILED', 'image.* ran before wasm-vips was loaded');
      return runImage(started.vips, call, inputs, ctx);
    },
    memoryBytes: () => started?.memory.buffer.byteLength ?? 0,
    vipsAllocations: () => started?.vips.Stats.allocations() ?? 0,
  };
}

/**
 * Every input through the call, one output each. On a stop request it returns the outputs made so
 * far, with `stopped` in the summary (the executor fails the job with the stop's reason).
 */
function runImage(vips: Vips, call: CheckedCall, inputs: LibraryInput[], ctx: RuntimeContext): LibraryResult {
  const steps = stepsOf(call);
  const limit = maxPixels(ctx.limits);
  const outputs: LibraryOutput[] = [];
  const summary: Record<string, string> = {};
  const used = new Set<string>();
  for (const [index, input] of inputs.entries()) {
    const stop = ctx.stopRequested();
    if (stop) return { outputs, summary: { ...summary, stopped: stop } };
    const job = new VipsImageJob(vips, { name: input.name, index, bytes: input.bytes });
    try {
      checkDeclared(input.bytes, limit, input.name, index);
      const header = job.open(steps, (h) => checkPlan(h, steps, call, limit, index));
      const stopped = applySteps(job, steps, call, ctx);
      if (stopped) return { outputs, summary: { ...summary, stopped } };
      const spec = outputOf(call, header.format);
      const out = job.encode(spec);
      const name = outputName(input.name, spec.format, used);
      outputs.push({ name, contentType: out.contentType, bytes: out.bytes });
      summary[name] = `${out.width}x${out.height}`;
    } catch (err) {
      throw libraryErrorOf(err, input.name, index);
    } finally {
      job.free();
    }
    ctx.progress(((index + 1) / inputs.length) * 100);
  }
  return { outputs, summary };
}

/** Adds the steps to the job's pipeline; the stop's reason when one was asked for between two. */
function applySteps(
  job: VipsImageJob,
  steps: Step[],
  call: CheckedCall,
  ctx: RuntimeContext,
): string | undefined {
  for (const [i, step] of steps.entries()) {
    const stop = ctx.stopRequested();
    if (stop) return stop;
    job.apply(step, stepPath(call, i));
  }
  return undefined;
}

export const imageRuntime: ImageRuntime = createImageRuntime(browserGlue);
