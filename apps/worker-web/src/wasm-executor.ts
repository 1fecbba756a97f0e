// Runs WASI preview1 commands (`module.kind = "wasm"`, abi "wasi") through
// @bjorn3/browser_wasi_shim on the job's regions: stdin and /in files are read where they lie,
// stdout, stderr and /out files grow in regions the main thread reads in place. Every WASI call is
// a safe point (cancel, timeout); fuel is metered when the module is instrumented. Documented in
// ../README.md.
import { type Fd, WASI } from '@bjorn3/browser_wasi_shim';
import { ExecutorError, type JobFailure } from './executor-error.ts';
import { FuelMeter } from './fuel-meter.ts';
import type { Job, JobProgress, JobSuccess } from './job.ts';
import type { JobIo } from './job-io.ts';
import { SafePoints, StopSignal } from './safe-points.ts';
import { tabImports } from './wasi-calls.ts';
import { type OutputBudget, OutputSink, textOf, ViewFile } from './wasi-io.ts';
import { collectOutputs, type WasiFileSystem, wasiFileSystem, wasiParams } from './wasi-mounts.ts';
import { instantiate, WASI_MODULE, type WasmModules } from './wasm-modules.ts';

const PAGE = 65_536;
/** A trap this close to the page ceiling (32 pages, 2 MiB) is reported as MEMORY_LIMIT. */
const MEMORY_SLACK_PAGES = 32;
function stringList(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new ExecutorError('EXECUTION_ERROR', `params.${field} must be a list of strings`, false);
  }
  return value as string[];
}

function envList(value: unknown): string[] {
  if (value === undefined) return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ExecutorError('EXECUTION_ERROR', 'params.env must be an object of strings', false);
  }
  return Object.entries(value).map(([k, v]) => {
    if (typeof v !== 'string' || k.includes('=')) {
      throw new ExecutorError('EXECUTION_ERROR', `params.env.${k} must be a string`, false);
    }
    return `${k}=${v}`;
  });
}

export function memoryPages(memory: WebAssembly.Memory | undefined): number {
  return memory ? memory.buffer.byteLength / PAGE : 0;
}

/** Classifies a trap or a failed exit: near the page ceiling it is MEMORY_LIMIT. */
export function failure(job: Job, memory: WebAssembly.Memory | undefined, what: string): ExecutorError {
  const pages = memoryPages(memory);
  const limit = job.spec.limits.memoryPages;
  if (pages >= limit - MEMORY_SLACK_PAGES) {
    return new ExecutorError('MEMORY_LIMIT', `${what} with memory at ${pages} of ${limit} pages`, false);
  }
  return new ExecutorError('EXECUTION_ERROR', what, false);
}

/** Fails INPUT_TOO_LARGE when the inputs pass the job's limit. */
export function checkInputSize(job: Job): void {
  const bytes = job.inputs.reduce((sum, input) => sum + input.bytes.byteLength, 0);
  if (bytes > job.spec.limits.maxInputBytes) {
    throw new ExecutorError(
      'INPUT_TOO_LARGE',
      `inputs are ${bytes} bytes, the limit is ${job.spec.limits.maxInputBytes}`,
    );
  }
}

/** A stderr line `flock:progress <pct> [key=value ...]` reports progress (pct 0..100). */
const PROGRESS_LINE = /^flock:progress (\d+(?:\.\d+)?)((?: [\w.-]+=\S*)*)$/;

/** Parses a progress line of a WASI program, or returns undefined. */
export function parseProgressLine(line: string): JobProgress | undefined {
  const match = PROGRESS_LINE.exec(line.trimEnd());
  if (!match) return undefined;
  const metrics: Record<string, string> = {};
  for (const pair of (match[2] ?? '').trim().split(' ').filter(Boolean)) {
    const at = pair.indexOf('=');
    metrics[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return { pct: Math.min(100, Number(match[1])), metrics };
}

/**
 * Runs one WASI job. Resolves with the result, or with a CANCELLED/TIMEOUT failure carrying the
 * partial outputs of a program that stopped; throws ExecutorError for everything else.
 */
export async function runWasiJob(
  job: Job,
  io: JobIo,
  modules: WasmModules,
): Promise<JobSuccess | JobFailure> {
  checkInputSize(job);
  const started = performance.now();
  const { module, hash, cached } = await modules.load(job, 'wasi');
  const compileMs = performance.now() - started;
  if (job.spec.params['wasi_net'] === true)
    throw new ExecutorError('UNSUPPORTED', 'WASI sockets are not available');

  const budget: OutputBudget = { left: job.spec.limits.maxOutputBytes };
  const stdout = new OutputSink(io, budget, 'stdout');
  const stderr = new OutputSink(io, budget, 'stderr', (line) => {
    const progress = parseProgressLine(line);
    if (progress) io.progress(progress);
  });
  const fds: Fd[] = [new ViewFile(job.inputs[0]?.bytes ?? new Uint8Array(0)).open(), stdout, stderr];
  let fs: WasiFileSystem | undefined;
  if (job.spec.wasiFs) {
    fs = await wasiFileSystem(job, io, budget);
    fds.push(...fs.preopens);
  } else {
    wasiParams(job);
  }
  const args = [job.spec.taskId || 'main', ...stringList(job.spec.params['args'], 'args')];
  const shim = new WASI(args, envList(job.spec.params['env']), fds, { debug: false });
  const safe = new SafePoints(io, started + job.spec.limits.timeoutMs);
  const wasiImport = shim.wasiImport as unknown as Record<string, (...args: never[]) => unknown>;
  let memory: WebAssembly.Memory | undefined;
  tabImports(wasiImport, shim.fds, args, () => memory!, safe);

  const instance = await instantiate(module, { [WASI_MODULE]: shim.wasiImport });
  const exports = instance.exports as { memory?: WebAssembly.Memory; _start?: () => unknown };
  if (!(exports.memory instanceof WebAssembly.Memory) || typeof exports._start !== 'function') {
    throw new ExecutorError('EXECUTION_ERROR', 'a WASI command must export memory and _start', false);
  }
  memory = exports.memory;
  const fuel = new FuelMeter(instance, job.spec.limits.fuel);
  let exitCode: number;
  try {
    exitCode = shim.start({ exports: exports as { memory: WebAssembly.Memory; _start: () => unknown } });
  } catch (error) {
    if (error instanceof StopSignal) return stopped(error.reason, 'did not stop when asked', stdout, fs);
    if (error instanceof ExecutorError) throw error;
    if (fuel.exhausted()) {
      throw new ExecutorError(
        'FUEL_EXHAUSTED',
        `ran out of fuel: its budget of ${job.spec.limits.fuel} units is spent`,
      );
    }
    if (error instanceof RangeError) throw new ExecutorError('MEMORY_LIMIT', error.message, false);
    throw failure(job, memory, trapMessage(error, stderrTail(stderr)));
  }
  if (safe.reason) return stopped(safe.reason, `wound down and exited ${exitCode}`, stdout, fs);
  const stderrText = stderrTail(stderr);
  const limit = job.spec.limits.memoryPages;
  if (exitCode !== 0 && memoryPages(memory) >= limit - MEMORY_SLACK_PAGES) {
    // Most likely an allocation that failed at the ceiling: the limit, not the program, is why.
    throw failure(job, memory, `exit status ${exitCode}${stderrText ? `: ${stderrText.trim()}` : ''}`);
  }
  // Any other exit status is the program's answer: a result, with everything it wrote.
  const summary: Record<string, string> = { exit_code: String(exitCode), module_hash: hash };
  if (stderrText) summary['stderr'] = stderrText;
  const used = fuel.used();
  if (used !== undefined) summary['fuel_used'] = String(used);
  return {
    ok: true,
    outputs: collectOutputs(stdout, fs),
    executor: 'wasm-wasi',
    summary,
    metrics: {
      memory_pages: String(memoryPages(memory)),
      compile_ms: compileMs.toFixed(2),
      run_ms: (performance.now() - started - compileMs).toFixed(2),
      module_cached: String(cached),
    },
  };
}

/** The last 400 characters of what the program wrote to stderr. */
function stderrTail(stderr: OutputSink): string {
  return textOf(stderr.buffer.view().subarray(-1600)).slice(-400);
}

/** How many stderr lines a trap's message carries (a panic or assert message, an abort's note). */
const TRAP_STDERR_LINES = 5;

/**
 * `trap: <kind>` (V8's words: unreachable, memory access out of bounds, divide by zero, ...), then
 * the last lines the program wrote to stderr: an assert or a Rust panic prints its message there
 * just before it traps.
 */
export function trapMessage(error: unknown, stderrText: string): string {
  const kind = error instanceof Error ? error.message : String(error);
  const lines = stderrText
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line !== '' && !PROGRESS_LINE.test(line))
    .slice(-TRAP_STDERR_LINES);
  return lines.length === 0 ? `trap: ${kind}` : `trap: ${kind}; stderr: ${lines.join(' | ')}`;
}

/** The failure of a job that stopped (cancel or timeout), with what it wrote before it did. */
function stopped(
  reason: 'CANCELLED' | 'TIMEOUT',
  how: string,
  stdout: OutputSink,
  fs: WasiFileSystem | undefined,
): JobFailure {
  return {
    ok: false,
    code: reason,
    message:
      reason === 'TIMEOUT' ? `ran past its timeout; the program ${how}` : `cancelled; the program ${how}`,
    retryable: reason === 'CANCELLED',
    partial: {
      ok: true,
      outputs: collectOutputs(stdout, fs),
      executor: 'wasm-wasi',
      summary: {},
      metrics: {},
    },
  };
}
