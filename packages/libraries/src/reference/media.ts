// The reference of audio.* and video.*: Debian's ffmpeg 5.1 (/usr/bin/ffmpeg, or FLOCK_FFMPEG)
// running the same argv as the tab's WASM core (runtime/media-args.ts), each pass in a fresh
// temporary directory holding only its input. With the argv's `-cpuflags 0` and x264's `asm=0`
// it takes FFmpeg's C paths, as the WASM build does: outputs decode to the same samples and
// pixels, except libopus and libvorbis (see LOSSY_AUDIO_MIN_SNR_DB).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LIBRARIES } from '../libraries.ts';
import type { CheckedCall } from '../registry.ts';
import { type FfmpegRun, type FfmpegRunner, type RunWatch, runMedia } from '../runtime/media-job.ts';
import type { LibraryInput, LibraryResult } from '../runtime/runtime.ts';

/** The native ffmpeg the reference runs. */
export const FFMPEG = process.env['FLOCK_FFMPEG'] ?? '/usr/bin/ffmpeg';

/** Debian's ffmpeg, one process per pass. */
export class NativeRunner implements FfmpegRunner {
  constructor(private readonly binary = FFMPEG) {}

  async run(
    inputs: ReadonlyMap<string, Uint8Array>,
    argv: readonly string[],
    watch: RunWatch,
  ): Promise<FfmpegRun> {
    const dir = mkdtempSync(join(tmpdir(), 'flock-media-'));
    try {
      for (const [name, bytes] of inputs) writeFileSync(join(dir, name), bytes);
      const ms = Math.max(1, Math.floor(watch.deadline - performance.now()));
      const { exitCode, log, stopped, crash } = await this.spawn(dir, argv, ms, watch);
      const files = new Map<string, Uint8Array>();
      for (const name of readdirSync(dir))
        if (!inputs.has(name) && statSync(join(dir, name)).isFile())
          files.set(name, new Uint8Array(readFileSync(join(dir, name))));
      return { exitCode, log, files, ...(stopped ? { stopped } : {}), ...(crash ? { crash } : {}) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private spawn(
    cwd: string,
    argv: readonly string[],
    ms: number,
    watch: RunWatch,
  ): Promise<{ exitCode: number; log: string; stopped?: string; crash?: string }> {
    return new Promise((resolve) => {
      const child = spawn(this.binary, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      const chunks: Buffer[] = [];
      let kept = 0;
      const keep = (chunk: Buffer) => {
        // The log's first 1 MiB is all the reference reads (the stream dump and loudnorm's JSON
        // come first and last; the progress lines between are bounded by the run's length).
        if (kept < 1 << 20) chunks.push(chunk);
        kept += chunk.length;
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      let stopped: string | undefined;
      const timer = setTimeout(() => {
        stopped = 'TIMEOUT';
        child.kill('SIGKILL');
      }, ms);
      const poll = setInterval(() => {
        const reason = watch.stopRequested();
        if (reason !== undefined && stopped === undefined) {
          stopped = reason;
          child.kill('SIGKILL');
        }
      }, 100);
      child.on('error', (err) => {
        clearTimeout(timer);
        clearInterval(poll);
        resolve({ exitCode: -1, log: '', crash: `${this.binary}: ${err.message}` });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        clearInterval(poll);
        const log = Buffer.concat(chunks).toString('utf8');
        const crash = signal && !stopped ? `killed by ${signal}` : undefined;
        resolve({ exitCode: code ?? -1, log, ...(stopped ? { stopped } : {}), ...(crash ? { crash } : {}) });
      });
    });
  }
}

/** Runs a checked audio.* or video.* call natively, under the library's default limits. */
export function runMediaReference(
  call: CheckedCall,
  inputs: LibraryInput[],
  runner: FfmpegRunner = new NativeRunner(),
): Promise<LibraryResult> {
  const limits = LIBRARIES[call.method.library].limits;
  return runMedia(call, inputs, runner, {
    limits,
    progress: () => undefined,
    stopRequested: () => undefined,
  });
}
