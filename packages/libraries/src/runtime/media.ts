// audio.* and video.* in the tab: FFmpeg's WASM core (media-core.ts) running the argv that
// media-args.ts builds, one pass at a time, in a sandbox directory holding only that input. One
// runtime serves both libraries: they share the core, loaded once per executor.
//
// A pass cannot be interrupted from outside (exec is synchronous), so the core's own timeout
// stops it: it is set to what is left of the job's time, and dropped to 0 — FFmpeg then ends at
// its next step — from the progress callback (about every 0.5 s) when the job is asked to stop or
// the outputs pass the job's limit. A pass stuck inside one step is left to the tab, which can
// terminate the executor Worker.
import type { CheckedCall } from '../registry.ts';
import { CoreInstance, type LoadedCore, loadCore } from './media-core.ts';
import { type FfmpegRun, type FfmpegRunner, type RunWatch, runMedia } from './media-job.ts';
import type { LibraryInput, LibraryResult, LibraryRuntime, RuntimeContext } from './runtime.ts';

/** Keeps a log's first and last lines (a long run logs a progress line every half second). */
class LogLines {
  private readonly head: string[] = [];
  private readonly tail: string[] = [];

  constructor(private readonly keep = 300) {}

  push(line: string): void {
    if (this.head.length < this.keep) this.head.push(line);
    else {
      this.tail.push(line);
      if (this.tail.length > this.keep) this.tail.shift();
    }
  }

  text(): string {
    return [...this.head, ...this.tail].join('\n');
  }
}

/** FFmpeg runs on the WASM core. */
export class WasmRunner implements FfmpegRunner {
  /** The multi-threaded core's instance, kept between passes while they succeed. */
  private kept: CoreInstance | undefined;

  constructor(readonly loaded: LoadedCore) {}

  /** Starts the multi-threaded core's instance (its 32 pthread workers) ahead of the first job. */
  async warm(): Promise<void> {
    if (this.loaded.variant === 'threads') this.kept ??= await CoreInstance.create(this.loaded);
  }

  async run(
    inputs: ReadonlyMap<string, Uint8Array>,
    argv: readonly string[],
    watch: RunWatch,
  ): Promise<FfmpegRun> {
    const instance = this.kept ?? (await CoreInstance.create(this.loaded));
    this.kept = undefined;
    const core = instance.core;
    const log = new LogLines();
    let stopped: string | undefined;
    core.reset();
    core.setLogger(({ message }) => log.push(message));
    core.setProgress(({ progress }) => {
      watch.progress(progress);
      if (stopped !== undefined) return;
      stopped =
        watch.stopRequested() ??
        (written(instance, inputs) > watch.maxOutputBytes ? 'OUTPUT_TOO_LARGE' : undefined);
      if (stopped !== undefined) core.setTimeout(0);
    });
    core.setTimeout(Math.max(1, Math.floor(watch.deadline - performance.now())));
    let exitCode = -1;
    let crash: string | undefined;
    try {
      for (const [name, bytes] of inputs) core.FS.writeFile(name, bytes);
      exitCode = core.exec(...argv);
    } catch (err) {
      crash = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
    // The core's timeout ended the run: it fires only once the job's deadline has passed.
    if (stopped === undefined && crash === undefined && exitCode !== 0 && performance.now() >= watch.deadline)
      stopped = 'TIMEOUT';
    const files = new Map<string, Uint8Array>();
    try {
      for (const name of instance.files()) if (!inputs.has(name)) files.set(name, core.FS.readFile(name));
      instance.clear();
    } catch (err) {
      crash ??= `the sandbox could not be read: ${(err as Error).message}`;
    }
    if (instance.variant === 'threads' && exitCode === 0 && crash === undefined && stopped === undefined)
      this.kept = instance;
    else instance.dispose();
    return {
      exitCode,
      log: log.text(),
      files,
      ...(stopped === undefined ? {} : { stopped }),
      ...(crash === undefined ? {} : { crash }),
    };
  }
}

/** Bytes of the files a run has written so far. */
function written(instance: CoreInstance, inputs: ReadonlyMap<string, Uint8Array>): number {
  const fs = instance.core.FS;
  return instance
    .files()
    .filter((name) => !inputs.has(name))
    .reduce((sum, name) => sum + fs.stat(name).size, 0);
}

/** The runtime of both `audio` and `video`: loads the core once, runs each call's passes. */
export class MediaRuntime implements LibraryRuntime {
  private runner: Promise<WasmRunner> | undefined;

  load(ctx: RuntimeContext): Promise<void> {
    if (!this.runner) {
      this.runner = loadCore(ctx).then(async (loaded) => {
        const runner = new WasmRunner(loaded);
        await runner.warm();
        return runner;
      });
      this.runner.catch(() => {
        this.runner = undefined; // the next job tries again
      });
    }
    return this.runner.then(() => undefined);
  }

  async run(call: CheckedCall, inputs: LibraryInput[], ctx: RuntimeContext): Promise<LibraryResult> {
    await this.load(ctx);
    return runMedia(call, inputs, await this.runner!, ctx);
  }

  /** Which core runs and how many bytes its files were (for benches and the tab's metrics). */
  async core(): Promise<{ variant: string; bytes: number } | undefined> {
    const runner = await this.runner;
    return runner && { variant: runner.loaded.variant, bytes: runner.loaded.bytes };
  }
}

export const mediaRuntime = new MediaRuntime();
