// Compiled WebAssembly modules of one executor Worker, by verified hash and page ceiling. The
// executor lives across jobs, so a module's bytes cross the bridge once: later jobs name its hash,
// and an executor that no longer has it answers NEED_MODULE (the job is sent again with the bytes).
// Checks run before anything compiles: hash (hash-wasm) → imports → memory ceiling → compile.
import { WASI } from '@bjorn3/browser_wasi_shim';
import { ExecutorError } from './executor-error.ts';
import type { Job } from './job.ts';
import { verifyModuleHash } from './module-hash.ts';
import { capMemory, inspectWasm, type WasmModuleInfo } from './wasm-binary.ts';

export const WASI_MODULE = 'wasi_snapshot_preview1';
/** The WASI functions the shim implements: the only imports a WASI command may have. */
const WASI_FUNCTIONS: ReadonlySet<string> = new Set(
  Object.keys(new WASI([], [], [], { debug: false }).wasiImport),
);

/** A module ready to instantiate, with what its binary says. */
export interface LoadedModule {
  module: WebAssembly.Module;
  info: WasmModuleInfo;
  hash: string;
  /** Whether it came from this Worker's cache (its bytes did not cross the bridge this time). */
  cached: boolean;
}

/** Most modules one Worker keeps compiled (least recently used go first). */
const CAPACITY = 32;

export class WasmModules {
  private readonly compiled = new Map<string, Omit<LoadedModule, 'cached'>>();

  /** The job's module, compiled for its ABI and page ceiling; throws ExecutorError. */
  async load(job: Job, abi: 'wasi' | 'kernel'): Promise<LoadedModule> {
    const hash = job.spec.moduleHash ?? '';
    const key = `${hash}|${abi}|${job.spec.limits.memoryPages}`;
    const hit = this.compiled.get(key);
    if (hit && hash) {
      this.compiled.delete(key);
      this.compiled.set(key, hit);
      return { ...hit, cached: true };
    }
    if (!job.module) throw new ExecutorError('NEED_MODULE', `module ${hash} is not compiled here`);
    const verified = hash ? await verifyModuleHash(job.module, hash) : '';
    const info = inspectWasm(job.module);
    checkImports(info, abi);
    // The engine enforces the ceiling: memory.grow returns -1 once the capped maximum is reached.
    const capped = capMemory(job.module, job.spec.limits.memoryPages);
    let module: WebAssembly.Module;
    try {
      // A view of shared memory is not a BufferSource WebAssembly.compile takes: compile a copy.
      const bytes = capped.buffer instanceof ArrayBuffer ? capped : capped.slice();
      module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    } catch (error) {
      throw new ExecutorError('EXECUTION_ERROR', `module does not compile: ${(error as Error).message}`);
    }
    const loaded = { module, info, hash: verified };
    if (hash) {
      this.compiled.set(key, loaded);
      if (this.compiled.size > CAPACITY) this.compiled.delete(this.compiled.keys().next().value!);
    }
    return { ...loaded, cached: false };
  }
}

function checkImports(info: WasmModuleInfo, abi: 'wasi' | 'kernel'): void {
  for (const imp of info.imports) {
    const allowed =
      abi === 'wasi'
        ? imp.module === WASI_MODULE && imp.kind === 'function' && WASI_FUNCTIONS.has(imp.name)
        : imp.module === 'env' && imp.name === 'memory' && imp.kind === 'memory';
    if (!allowed) {
      throw new ExecutorError(
        'FORBIDDEN_IMPORT',
        `import ${imp.module}.${imp.name} (${imp.kind}) is not part of the ${abi} ABI`,
      );
    }
  }
}

/** Instantiates, turning link and memory errors into the executor's codes. */
export async function instantiate(
  module: WebAssembly.Module,
  imports: WebAssembly.Imports,
): Promise<WebAssembly.Instance> {
  try {
    return await WebAssembly.instantiate(module, imports);
  } catch (error) {
    if (error instanceof WebAssembly.LinkError) {
      throw new ExecutorError('FORBIDDEN_IMPORT', `module does not link: ${error.message}`);
    }
    if (error instanceof RangeError) throw new ExecutorError('MEMORY_LIMIT', error.message, false);
    throw error;
  }
}
