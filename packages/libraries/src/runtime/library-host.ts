// The libraries of one executor Worker: each loaded the first time a job needs it (its adapter's
// code split from the page's bundle, its WASM fetched and checked), then kept warm.
import { LibraryError } from '../library-error.ts';
import type { LibraryName } from '../method.ts';
import { checkLibraryCall, getMethod } from '../registry.ts';
import type { LibraryInput, LibraryResult, LibraryRuntime, RuntimeContext } from './runtime.ts';

/** How a library's runtime is made (a dynamic import, so its code loads only when used). */
export type RuntimeFactories = Partial<Record<LibraryName, () => Promise<LibraryRuntime>>>;

export class LibraryHost {
  private readonly runtimes = new Map<LibraryName, Promise<LibraryRuntime>>();
  private readonly ready = new Set<LibraryName>();

  constructor(private readonly factories: RuntimeFactories) {}

  /** Libraries loaded in this executor, for the capability. */
  warm(): LibraryName[] {
    return [...this.ready];
  }

  /**
   * Loads the library of `op` if it is not loaded yet (a tab times the load apart from the job:
   * fetching 30 MiB of WASM may take longer than a job may run). Throws LibraryError.
   */
  async load(op: string, ctx: RuntimeContext): Promise<void> {
    await this.runtime(getMethod(op).library, ctx);
  }

  /** Runs `op` on `inputs` (loading its library first if need be); `ctx.limits` are the job's. Throws LibraryError. */
  async run(
    op: string,
    params: unknown,
    inputs: LibraryInput[],
    ctx: RuntimeContext,
  ): Promise<LibraryResult> {
    const call = checkLibraryCall(op, params, inputs.length);
    let total = 0;
    for (const [i, input] of inputs.entries()) {
      total += input.bytes.byteLength;
      if (total > ctx.limits.maxInputBytes) {
        throw new LibraryError(
          'INPUT_TOO_LARGE',
          `inputs pass ${op}'s ${ctx.limits.maxInputBytes}-byte limit`,
          `inputs[${i}]`,
        );
      }
    }
    const runtime = await this.runtime(call.method.library, ctx);
    const result = await runtime.run(call, inputs, ctx);
    const out = result.outputs.reduce((sum, o) => sum + o.bytes.byteLength, 0);
    if (out > ctx.limits.maxOutputBytes) {
      throw new LibraryError(
        'OUTPUT_TOO_LARGE',
        `outputs of ${out} bytes pass the ${ctx.limits.maxOutputBytes}-byte limit`,
      );
    }
    return result;
  }

  private runtime(library: LibraryName, ctx: RuntimeContext): Promise<LibraryRuntime> {
    let loading = this.runtimes.get(library);
    if (!loading) {
      const factory = this.factories[library];
      if (!factory) throw new LibraryError('UNKNOWN_LIBRARY', `this tab has no runtime for ${library}`, 'op');
      loading = factory()
        .then(async (runtime) => {
          await runtime.load(ctx);
          this.ready.add(library);
          return runtime;
        })
        .catch((err: unknown) => {
          this.runtimes.delete(library); // the next job tries again
          if (err instanceof LibraryError) throw err;
          throw new LibraryError(
            'LIBRARY_LOAD_FAILED',
            `${library} could not be loaded: ${(err as Error).message}`,
          );
        });
      this.runtimes.set(library, loading);
    }
    return loading;
  }
}
