// One audio.* or video.* call over its inputs, whoever runs FFmpeg: the tab's WASM core or the
// reference's Debian ffmpeg (each behind FfmpegRunner). Plans each input's passes (media-args),
// runs them, names the outputs and turns failures into LibraryErrors, so both sides name, limit
// and refuse the same way.
import { LibraryError } from '../library-error.ts';
import type { CheckedCall } from '../registry.ts';
import { type MediaOutput, planMedia } from './media-args.ts';
import { emptyOutput, type FfmpegRun, failureOf } from './media-errors.ts';
import { loudnormSummary, parseLoudnorm } from './media-loudnorm.ts';
import type { LibraryInput, LibraryOutput, LibraryResult, RuntimeContext } from './runtime.ts';

export type { FfmpegRun } from './media-errors.ts';

/** What a runner watches during a run. */
export interface RunWatch {
  /** performance.now() past which the run is stopped (TIMEOUT). */
  readonly deadline: number;
  /** Bytes the run's outputs may reach before it is stopped (OUTPUT_TOO_LARGE). */
  readonly maxOutputBytes: number;
  stopRequested(): string | undefined;
  /** FFmpeg's progress through the input, 0..1. */
  progress(fraction: number): void;
}

/** Runs FFmpeg once in a sandbox holding only `inputs`. Never throws for FFmpeg's own failures. */
export interface FfmpegRunner {
  run(inputs: ReadonlyMap<string, Uint8Array>, argv: readonly string[], watch: RunWatch): Promise<FfmpegRun>;
}

export type MediaContext = Pick<RuntimeContext, 'progress' | 'stopRequested' | 'limits'>;

/**
 * A caller's file name made safe to name an output after: its last path component, characters
 * other than letters, digits, `.`, `_`, `-` and space as `_`, no leading `-` or `.` (so `../../x`
 * is `x`, `-i /etc/passwd` is `passwd`); `input_<index>` when nothing is left.
 */
export function safeName(name: string, index: number): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .replace(/[^\p{L}\p{N}._\- ]/gu, '_')
    .replace(/^[-.\s]+/, '')
    .slice(0, 200);
  return cleaned === '' ? `input_${index}` : cleaned;
}

/**
 * The stem outputs of input `index` are named after: its safe name without the extension, else (if
 * an earlier input took that) its whole safe name, else the stem with its position.
 */
export function outputStem(name: string, index: number, taken: Set<string>): string {
  const safe = safeName(name, index);
  const dot = safe.lastIndexOf('.');
  const stem = dot > 0 ? safe.slice(0, dot) : safe;
  const chosen =
    [stem, safe, `${stem}.${index}`].find((s) => !taken.has(s)) ?? `${stem}.${index}.${taken.size}`;
  taken.add(chosen);
  return chosen;
}

/** The run's outputs under their names: `<stem>.<ext>`, or `<stem>_0001.<ext>`… for a sequence. */
function collect(output: MediaOutput, files: ReadonlyMap<string, Uint8Array>, stem: string): LibraryOutput[] {
  const named = (name: string, bytes: Uint8Array) => ({ name, contentType: output.contentType, bytes });
  if (!output.sequence) {
    const bytes = files.get(output.file);
    return bytes === undefined ? [] : [named(`${stem}.${output.ext}`, bytes)];
  }
  const frame = new RegExp(`^frame_(\\d{4,})\\.${output.ext}$`);
  return [...files.keys()]
    .filter((f) => frame.test(f))
    .sort()
    .map((f) => named(`${stem}_${frame.exec(f)![1]}.${output.ext}`, files.get(f)!));
}

function checkStop(ctx: MediaContext, deadline: number): void {
  const reason = ctx.stopRequested();
  if (reason !== undefined) throw new LibraryError('LIBRARY_ERROR', `stopped (${reason})`);
  if (performance.now() >= deadline)
    throw new LibraryError('LIBRARY_ERROR', `the job ran past its ${ctx.limits.timeoutMs} ms limit`);
}

/** Runs a checked audio.* or video.* call with `runner`. Throws LibraryError. */
export async function runMedia(
  call: CheckedCall,
  inputs: readonly LibraryInput[],
  runner: FfmpegRunner,
  ctx: MediaContext,
): Promise<LibraryResult> {
  const deadline = performance.now() + ctx.limits.timeoutMs;
  const taken = new Set<string>();
  const outputs: LibraryOutput[] = [];
  const summary: Record<string, string> = {};
  let produced = 0;
  for (const [i, input] of inputs.entries()) {
    checkStop(ctx, deadline);
    const budget = ctx.limits.maxOutputBytes - produced;
    const plan = planMedia(call, i, input.name, budget);
    const sandbox = new Map([[plan.inputFile, input.bytes]]);
    const passes = plan.measure ? 2 : 1;
    const watch = (pass: number): RunWatch => ({
      deadline,
      maxOutputBytes: budget,
      stopRequested: ctx.stopRequested,
      progress: (f) =>
        ctx.progress((100 * (i + (pass + Math.min(1, Math.max(0, f))) / passes)) / inputs.length),
    });
    let measureLog: string | undefined;
    if (plan.measure) {
      const measured = await runner.run(sandbox, plan.measure, watch(0));
      if (measured.exitCode !== 0 || measured.stopped !== undefined || measured.crash !== undefined)
        throw failureOf(measured, i, ctx.limits.timeoutMs);
      measureLog = measured.log;
      summary[input.name] = loudnormSummary(parseLoudnorm(measureLog));
      checkStop(ctx, deadline);
    }
    const run = await runner.run(sandbox, plan.encode(measureLog), watch(passes - 1));
    if (run.exitCode !== 0 || run.stopped !== undefined || run.crash !== undefined)
      throw failureOf(run, i, ctx.limits.timeoutMs);
    const empty = emptyOutput(run, i);
    if (empty) throw empty;
    const made = collect(plan.output, run.files, outputStem(input.name, i, taken));
    if (made.length === 0) throw new LibraryError('LIBRARY_ERROR', `FFmpeg wrote no output for inputs[${i}]`);
    produced += made.reduce((sum, o) => sum + o.bytes.byteLength, 0);
    if (produced > ctx.limits.maxOutputBytes) {
      throw new LibraryError(
        'OUTPUT_TOO_LARGE',
        `outputs pass the job's ${ctx.limits.maxOutputBytes}-byte limit at inputs[${i}]`,
      );
    }
    outputs.push(...made);
  }
  ctx.progress(100);
  return Object.keys(summary).length > 0 ? { outputs, summary } : { outputs };
}
