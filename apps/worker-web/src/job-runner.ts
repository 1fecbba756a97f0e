// The executor's one code path for every job kind, whichever transport brought it: WASI and
// kernel modules, WGSL shaders, built-in ops and library methods. Never throws: failures become JobFailures.
import { assertNever } from '@flock/protocol';
import { toJobFailure } from './executor-error.ts';
import type { GpuContext } from './gpu-context.ts';
import type { Job, JobOutcome } from './job.ts';
import type { JobIo } from './job-io.ts';
import { runKernelJob } from './kernel-executor.ts';
import { LibraryExecutor } from './library-executor.ts';
import { runWasiJob } from './wasm-executor.ts';
import { WasmModules } from './wasm-modules.ts';

export class JobRunner {
  private readonly modules = new WasmModules();
  readonly libraries: LibraryExecutor;

  constructor(private readonly gpu: GpuContext) {
    this.libraries = new LibraryExecutor(gpu);
  }

  async run(job: Job, io: JobIo): Promise<JobOutcome> {
    try {
      const kind = job.spec.kind;
      switch (kind) {
        case 'wasi':
          return await runWasiJob(job, io, this.modules);
        case 'kernel':
          return await runKernelJob(job, io, this.modules);
        case 'wgsl':
          return await this.gpu.runWgsl(job, io);
        case 'builtin':
          return await this.gpu.runBuiltin(job, io);
        case 'library':
          return await this.libraries.run(job, io);
        default:
          return assertNever(kind);
      }
    } catch (error) {
      return toJobFailure(error);
    }
  }
}
