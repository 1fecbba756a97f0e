// Runs library jobs (`module.kind = "library"`): `<library>.<method>` on real WASM builds of real
// libraries (@flock/libraries). Each library loads in this executor the first time a job needs
// it and stays warm for the next; its inputs are read where they lie (arena views on the ring
// path), its outputs copied once into regions of the executor's bridge.

import manifest from 'virtual:flock-library-manifest';
import { LibraryHost, RUNTIMES, type RuntimeContext } from '@flock/libraries/runtime';
import { ExecutorError } from './executor-error.ts';
import type { GpuContext } from './gpu-context.ts';
import type { Job, JobOutput, JobSuccess } from './job.ts';
import type { JobIo } from './job-io.ts';
import { LibraryFiles } from './library-files.ts';

/** The libraries of one executor Worker. */
export class LibraryExecutor {
  private readonly host = new LibraryHost(RUNTIMES);
  private files: LibraryFiles | undefined;

  /** `gpu`: this executor's device (ml.* on WebGPU); its `getGpu` fails where the tab has none. */
  constructor(private readonly gpu: GpuContext) {}

  /** Libraries loaded here. */
  warm(): string[] {
    return this.host.warm();
  }

  async run(job: Job, io: JobIo): Promise<JobSuccess> {
    const op = job.spec.op ?? '';
    const library = op.split('.')[0] ?? '';
    const files = this.filesFor(job.spec.libraryOrigin ?? self.location.origin);
    const wasWarm = (this.host.warm() as string[]).includes(library);
    const fetchedBefore = files.fetchedBytes;
    const started = performance.now();
    const ctx: RuntimeContext = {
      file: (pkg, path) => files.file(pkg, path),
      url: (pkg, path) => files.url(pkg, path),
      progress: (pct) => io.progress({ pct: Math.max(0, Math.min(100, pct)), metrics: {} }),
      stopRequested: () => io.stopRequested(),
      threads: globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function',
      limits: job.spec.limits,
      gpuDevice: () => this.gpu.getGpu().catch(() => undefined),
      requiresWebgpu: job.spec.requiresWebgpu === true,
      ...(job.spec.moduleHash ? modelOf(job.spec.moduleHash, job.module) : {}),
    };
    // The host gives a cold load its own allowance and times the job from `running`, which is
    // said warm too: the host holds a library job to the load allowance until it hears it.
    if (!wasWarm) {
      io.progress({ pct: 0, metrics: { library_phase: 'loading' } });
      await this.host.load(op, ctx);
    }
    io.progress({ pct: 0, metrics: { library_phase: 'running' } });
    const result = await this.host.run(op, job.spec.params, job.inputs, ctx);
    const stop = io.stopRequested();
    if (stop) throw new ExecutorError(stop, `${op} ${stop === 'TIMEOUT' ? 'timed out' : 'was cancelled'}`);
    const outputs: JobOutput[] = result.outputs.map((o) => {
      const region = io.allocate(o.bytes.byteLength);
      if (!region)
        throw new ExecutorError('ARENA_FULL', `no room for ${o.name} (${o.bytes.byteLength} bytes)`);
      region.set(o.bytes);
      return {
        name: o.name,
        contentType: o.contentType,
        bytes: region,
        ...(o.tensor ? { tensor: o.tensor } : {}),
      };
    });
    const metrics: Record<string, string> = {
      library_ms: (performance.now() - started).toFixed(1),
      library_warm: wasWarm ? '1' : '0',
    };
    if (!wasWarm) metrics['library_fetched_bytes'] = String(files.fetchedBytes - fetchedBefore);
    return { ok: true, outputs, executor: `library:${library}`, summary: result.summary ?? {}, metrics };
  }

  private filesFor(origin: string): LibraryFiles {
    this.files ??= new LibraryFiles(manifest, origin);
    return this.files;
  }
}

/**
 * An ml job's model: its bytes when the host sent them (it does until this executor has run a job
 * of that model), else the runtime finds its session by hash, or asks for the job again with them.
 */
function modelOf(hash: string, bytes: Uint8Array | undefined): Pick<RuntimeContext, 'model' | 'needModel'> {
  // ONNX Runtime and TextDecoder take no views of shared memory (the ring's arena): the model is
  // copied out once, when this executor builds its session (which keeps its own copy anyway).
  const owned = bytes && bytes.buffer instanceof ArrayBuffer ? bytes : bytes?.slice();
  return {
    model: { hash, bytes: owned },
    needModel: (): never => {
      throw new ExecutorError('NEED_MODULE', `this executor no longer holds model ${hash}`);
    },
  };
}
