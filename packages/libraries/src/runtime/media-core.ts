// FFmpeg's WASM core (@ffmpeg/core 0.12.10, or @ffmpeg/core-mt in a cross-origin-isolated tab),
// loaded straight from its Emscripten glue, not through @ffmpeg/ffmpeg's worker wrapper. Every
// file comes through the RuntimeContext (hash-checked bytes): the glue is imported from a Blob
// URL, the WASM is compiled once from its bytes and instantiated through `instantiateWasm`, and
// the multi-threaded core's pthread workers are started from Blob URLs passed the way its
// `locateFile` reads them (`mainScriptUrlOrBlob`'s `#<base64 JSON>`).
//
// Two things this build needs that its package does not do:
// - Its C stack is Emscripten's default 64 KiB, which libopus, libvpx-vp9 and the MJPEG encoder
//   overflow, silently corrupting memory ("memory access out of bounds" on this or a later run;
//   ffmpegwasm/ffmpeg.wasm#591, fixed upstream by -sSTACK_SIZE=5MB after 0.12.10). Each instance
//   gets an 8 MiB stack from its heap before its first run. The stack exports are found by their
//   (minified) names in this exact build, which the tab's manifest pins by sha256, and checked.
// - A run that fails may leave FFmpeg's globals or the heap broken, so the single-threaded core
//   runs every pass on a fresh instance (about 10 ms from the compiled module), and the
//   multi-threaded one is replaced, its threads terminated, after any run that did not succeed.
import { CORE_BUILDS, type CoreBuild, type CoreVariant } from './media-files.ts';
import type { RuntimeContext } from './runtime.ts';

/** The parts of the Emscripten module this runtime uses. */
interface FfmpegCore {
  FS: {
    writeFile(path: string, data: Uint8Array): void;
    readFile(path: string): Uint8Array;
    readdir(path: string): string[];
    stat(path: string): { size: number; mode: number };
    isFile(mode: number): boolean;
    unlink(path: string): void;
    mkdir(path: string): void;
    chdir(path: string): void;
  };
  exec(...args: string[]): number;
  setLogger(logger: (entry: { type: string; message: string }) => void): void;
  setProgress(handler: (entry: { progress: number; time: number }) => void): void;
  setTimeout(ms: number): void;
  reset(): void;
  _malloc(bytes: number): number;
  asm: Record<string, unknown>;
  PThread?: { terminateAllThreads(): void };
}
type CoreFactory = (options: Record<string, unknown>) => Promise<FfmpegCore>;

/**
 * The WebAssembly and Worker globals as this file uses them, typed here: the tests' Node tsconfig,
 * which sees this file through the runtime index, has no DOM lib to declare them.
 */
interface WasmModule {
  readonly __wasmModule?: never;
}
interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: unknown): Promise<{ exports: Record<string, unknown> }>;
}
const platform = globalThis as unknown as { WebAssembly: WasmApi; Worker?: unknown };

const STACK_BYTES = 8 << 20;
/** The directory every run works in. */
const SANDBOX = '/job';

/**
 * Imports glue code from its checked bytes: a Blob URL in browsers; a data: URL where Blob URLs
 * cannot be imported (Node, for tests and benches). Returns the module and the URL it came from.
 */
async function importGlue(bytes: Uint8Array): Promise<{ factory: CoreFactory; url: string }> {
  const blobUrl = URL.createObjectURL(
    new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'text/javascript' }),
  );
  try {
    const mod = (await import(/* @vite-ignore */ blobUrl)) as { default: CoreFactory };
    return { factory: mod.default, url: blobUrl };
  } catch (blobError) {
    URL.revokeObjectURL(blobUrl);
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000)
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    const dataUrl = `data:text/javascript;base64,${btoa(binary)}`;
    try {
      const mod = (await import(/* @vite-ignore */ dataUrl)) as { default: CoreFactory };
      return { factory: mod.default, url: dataUrl };
    } catch {
      throw blobError;
    }
  }
}

/** One live FFmpeg instance, its files under SANDBOX. */
export class CoreInstance {
  private constructor(
    readonly core: FfmpegCore,
    readonly variant: CoreVariant,
  ) {}

  static async create(loaded: LoadedCore): Promise<CoreInstance> {
    let exports: Record<string, unknown> | undefined;
    const core = await loaded.factory({
      mainScriptUrlOrBlob: loaded.mainScript,
      instantiateWasm: (imports: unknown, receive: (instance: unknown, module: WasmModule) => void) => {
        void platform.WebAssembly.instantiate(loaded.module, imports).then((instance) => {
          exports = instance.exports;
          receive(instance, loaded.module);
        });
        return {};
      },
    });
    const build = CORE_BUILDS[loaded.variant];
    const save = exports?.[build.stackSave];
    const restore = exports?.[build.stackRestore];
    if (typeof save !== 'function' || typeof restore !== 'function')
      throw new Error(`${build.package} is not the build this runtime knows (no stack exports)`);
    const top = (core._malloc(STACK_BYTES) + STACK_BYTES) & ~15;
    const before = save() as number;
    restore(top);
    if (save() !== top) {
      restore(before);
      throw new Error(`${build.package}'s stack exports do not behave as stackSave/stackRestore`);
    }
    core.FS.mkdir(SANDBOX);
    core.FS.chdir(SANDBOX);
    return new CoreInstance(core, loaded.variant);
  }

  /** Files in the sandbox, by name. */
  files(): string[] {
    const fs = this.core.FS;
    return fs.readdir('.').filter((name) => name !== '.' && name !== '..' && fs.isFile(fs.stat(name).mode));
  }

  clear(): void {
    for (const name of this.files()) this.core.FS.unlink(name);
  }

  /** Ends the instance's threads (the multi-threaded core's 32 pthread workers). */
  dispose(): void {
    this.core.PThread?.terminateAllThreads();
  }
}

/** A compiled core, ready to make instances. */
export interface LoadedCore {
  readonly variant: CoreVariant;
  readonly factory: CoreFactory;
  readonly module: WasmModule;
  /** For the multi-threaded core: the glue's URL with the worker's, as its locateFile reads them. */
  readonly mainScript: string | undefined;
  /** Bytes of the files fetched. */
  readonly bytes: number;
}

/**
 * Fetches and compiles the core: the multi-threaded one where the tab is cross-origin isolated and
 * Workers can be started (not in Node), else the single-threaded one.
 */
export async function loadCore(ctx: RuntimeContext): Promise<LoadedCore> {
  const variant: CoreVariant = ctx.threads && typeof platform.Worker === 'function' ? 'threads' : 'single';
  const build: CoreBuild = CORE_BUILDS[variant];
  const [glue, wasm, worker] = await Promise.all([
    ctx.file(build.package, build.glue),
    ctx.file(build.package, build.wasm),
    build.worker === undefined ? undefined : ctx.file(build.package, build.worker),
  ]);
  const [{ factory, url }, module] = await Promise.all([
    importGlue(glue),
    platform.WebAssembly.compile(wasm),
  ]);
  let mainScript: string | undefined;
  if (worker !== undefined) {
    const workerURL = URL.createObjectURL(
      new Blob([worker as Uint8Array<ArrayBuffer>], { type: 'text/javascript' }),
    );
    mainScript = `${url}#${btoa(JSON.stringify({ wasmURL: ctx.url(build.package, build.wasm), workerURL }))}`;
  }
  const bytes = glue.byteLength + wasm.byteLength + (worker?.byteLength ?? 0);
  return { variant, factory, module, mainScript, bytes };
}
