import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  type ComputeResult,
  type DataRef,
  DEFAULT_LIMITS,
  type JsonObject,
  type ModuleSpec,
  parseEnvelopeJson,
  parseJsonObject,
  parseTraceparent,
  toJson,
} from '@flock/protocol';
import type { TaskState, TaskView, WorkerView } from '../api-types.ts';
import type { FlockClient } from '../flock-client.ts';
import { FlockError, isFlockError } from '../flock-error.ts';
import type { MapOutcome } from '../map-tasks.ts';
import type { Task } from '../task.ts';
import { formatCredit, trustStatus, verificationText } from '../trust-text.ts';
import { audit, replay } from './audit-commands.ts';
import { EXIT, UsageError } from './exit-codes.ts';
import { none, one, table } from './format.ts';
import { keys } from './key-commands.ts';
import type { CliIo, CliValues } from './main.ts';
import { mapLibrary } from './map-library.ts';
import { model } from './map-tensors.ts';
import { mapMounts, parseMountArgs, withMountArgs } from './mount-dirs.ts';
import { ProgressBar } from './progress-bar.ts';
import { breakers, stats } from './service-commands.ts';
import { webhooks } from './webhook-commands.ts';
import { workflow } from './workflow-commands.ts';

export interface CliContext {
  client: FlockClient;
  io: CliIo;
  values: CliValues;
  /** Positionals after the command name. */
  args: string[];
  readInput: (path: string) => Promise<string>;
}

export type Command = (context: CliContext) => Promise<number>;

const TASK_STATES: readonly TaskState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

/**
 * `--traceparent`, else env TRACEPARENT: the trace submitted tasks join (#19). One that is not a
 * W3C traceparent is a usage error: the coordinator would ignore it and mint another trace.
 */
export function traceOption(values: CliValues, io: CliIo): { traceparent?: string } {
  const source = values.traceparent === undefined ? 'env TRACEPARENT' : '--traceparent';
  const traceparent = values.traceparent ?? (io.env['TRACEPARENT'] || undefined);
  if (traceparent === undefined) return {};
  if (parseTraceparent(traceparent) === undefined) {
    throw new UsageError(
      `${source} "${traceparent}" is not a W3C traceparent (00-<32 hex trace id>-<16 hex span id>-<2 hex flags>, ids not all zero)`,
    );
  }
  return { traceparent };
}

const submit: Command = async ({ client, io, values, args, readInput }) => {
  const path = one(args, 'submit <envelope.json|->');
  const trace = traceOption(values, io);
  const envelope = await withMountArgs(client, values, parseEnvelopeJson(await readInput(path)));
  const task = await client.submit(envelope, {
    format: values.capnp === true ? 'capnp' : 'json',
    ...trace,
  });
  if (values.wait !== true) {
    printView(io, values, task.view!);
    return EXIT.ok;
  }
  const view = await follow(task, io, values);
  if (view.state !== 'succeeded') {
    printView(io, values, view);
    return EXIT.taskFailed;
  }
  // How it ran, then what `flock result` prints, with its exit status (--json: one document).
  if (values.json !== true) printView(io, values, view);
  return showResult(client, io, values, task, view);
};

const status: Command = async ({ client, io, values, args }) => {
  const view = await client.getTask(one(args, 'status <task_id>'));
  printView(io, values, view);
  return EXIT.ok;
};

const result: Command = async ({ client, io, values, args }) => {
  const task = client.task(one(args, 'result <task_id>'));
  if (values.wait === true) {
    const view = await follow(task, io, values);
    if (view.state !== 'succeeded') {
      printView(io, values, view);
      return EXIT.taskFailed;
    }
  }
  return showResult(client, io, values, task);
};

/**
 * Prints a task's result as `flock result` does and returns the exit status: the program's own
 * (`programStatus`), or 1 when the task ended without a result (its view, failure line and all,
 * is printed instead). `view`, from `submit --wait`: with --json, the one document printed is that
 * view with the result as `result`.
 */
async function showResult(
  client: FlockClient,
  io: CliIo,
  values: CliValues,
  task: Task,
  view?: TaskView,
): Promise<number> {
  const computeResult = await task.result({ wait: false }).catch((error: unknown) => {
    // Ended without success: print how (its failure line) rather than an error.
    if (!isFlockError(error) || (error.code !== 'TASK_FAILED' && error.code !== 'TASK_CANCELLED'))
      throw error;
    printView(io, values, task.view!);
    return undefined;
  });
  if (computeResult === undefined) return EXIT.taskFailed;
  if (view !== undefined && values.json === true)
    io.stdout(`${JSON.stringify({ ...view, result: toJson('ComputeResult', computeResult) }, null, 2)}\n`);
  else await printResult(client, io, values, computeResult, values.out);
  return programStatus(computeResult);
}

/**
 * A WASI program's own exit status (`summary.exit_code`, 1..255) when it exited non-zero, so a
 * script sees it as it would from a local run; 0 otherwise. These numbers overlap EXIT's.
 */
export function programStatus(computeResult: ComputeResult): number {
  const code = Number(computeResult.summary?.['exit_code'] ?? '0');
  return Number.isInteger(code) && code > 0 && code <= 255 ? code : EXIT.ok;
}

const list: Command = async ({ client, io, values, args }) => {
  none(args, 'list [--state STATE] [--campaign ID]');
  const state = values.state;
  if (state !== undefined && !TASK_STATES.includes(state as TaskState)) {
    throw new UsageError(`--state must be one of ${TASK_STATES.join(', ')}, got "${state}"`);
  }
  const tasks: TaskView[] = [];
  for await (const view of client.iterateTasks({
    limit: 1000,
    ...(state === undefined ? {} : { state: state as TaskState }),
    ...(values.campaign === undefined ? {} : { campaign_id: values.campaign }),
  })) {
    tasks.push(view);
  }
  if (values.json === true) {
    io.stdout(`${JSON.stringify({ tasks }, null, 2)}\n`);
    return EXIT.ok;
  }
  if (tasks.length === 0) {
    io.stdout('no tasks\n');
    return EXIT.ok;
  }
  const rows = tasks.map((t) => [
    t.task_id,
    t.state,
    t.op,
    t.module_kind,
    t.state === 'running' && t.progress !== undefined ? `${Math.round(t.progress.pct)}%` : '',
    t.failure?.code ?? '',
  ]);
  io.stdout(table(['TASK', 'STATE', 'OP', 'MODULE', 'PROGRESS', 'CODE'], rows));
  return EXIT.ok;
};

const cancel: Command = async ({ client, io, values, args }) => {
  const view = await client.cancelTask(one(args, 'cancel <task_id>'));
  printView(io, values, view);
  return EXIT.ok;
};

const workers: Command = async ({ client, io, values, args }) => {
  none(args, 'workers');
  const list = await client.workers();
  if (values.json === true) {
    io.stdout(`${JSON.stringify({ workers: list }, null, 2)}\n`);
    return EXIT.ok;
  }
  if (list.length === 0) {
    io.stdout('no workers\n');
    return EXIT.ok;
  }
  const head = ['WORKER', 'CONNECTED', 'GPU', 'CORES', 'RUNNING', 'OK', 'FAILED'];
  const trust = ['CREDIT', 'PENDING', 'VALIDATED', 'REJECTED', 'TRUST'];
  io.stdout(table([...head, ...trust], list.map(workerRow)));
  return EXIT.ok;
};

const map: Command = async ({ client, io, values, args }) => {
  if (args.length === 0) throw new UsageError('map needs at least one input file');
  const sources = [values.wasm, values.wgsl, values.builtin, values.library].filter((v) => v !== undefined);
  if (sources.length !== 1)
    throw new UsageError('map needs exactly one of --wasm FILE, --wgsl FILE, --builtin OP, --library OP');
  const params = values.params === undefined ? undefined : parseParams(values.params);
  const trace = traceOption(values, io); // checked before any file is read or uploaded
  const mounts = parseMountArgs(values.mount);
  if (mounts.length > 0 && values.wasm === undefined) throw new UsageError('--mount needs --wasm');
  if (values.batch !== undefined && !values.library?.startsWith('ml.')) {
    throw new UsageError('--batch needs an ml.* op (--library ml.infer, ml.embed, ml.classify)');
  }
  if (values.library !== undefined) return mapLibrary({ client, io, values, args }, values.library, params);
  let module: ModuleSpec;
  if (values.builtin !== undefined) {
    module = { kind: 'builtin' };
  } else {
    const kind = values.wasm === undefined ? 'wgsl' : 'wasm';
    const bytes = await readBytes((values.wasm ?? values.wgsl)!);
    module = await client.moduleSpec(bytes, kind, values.entry === undefined ? {} : { entry: values.entry });
  }
  const concurrency = parseConcurrency(values);
  const files = await Promise.all(args.map(readBytes));
  const task = await mapMounts(client, mounts, { module, files, params, inputName: values['input-name'] });
  const bar = new ProgressBar(io.stderr, io.stderrIsTTY && values.json !== true);
  bar.update({ total: files.length, done: 0 });
  const op = values.op ?? values.builtin;
  const outcomes = await client.map(task.module, task.items, {
    concurrency,
    ...(op === undefined ? {} : { op }),
    ...(task.params === undefined ? {} : { params: task.params }),
    ...(values.campaign === undefined ? {} : { campaignId: values.campaign }),
    ...(values['input-name'] === undefined ? {} : { inputName: values['input-name'] }),
    ...trace,
    onProgress: (p) => bar.update({ total: p.total, done: p.done, failed: p.failed + p.cancelled }),
  });
  bar.finish();
  if (values.out !== undefined) await writeMapOutputs(client, values.out, outcomes, args);
  return reportMap(io, values, outcomes, args);
};

/** Prints how each input ended (a table, or --json); exit 0 when every task succeeded. */
export function reportMap(io: CliIo, values: CliValues, outcomes: MapOutcome[], args: string[]): number {
  const failed = outcomes.filter((o) => o.state !== 'succeeded').length;
  if (values.json === true) {
    io.stdout(
      `${JSON.stringify(
        {
          outcomes: outcomes.map((o) => ({
            index: o.index,
            input: args[o.index],
            task_id: o.taskId,
            state: o.state,
            ...(o.failure === undefined ? {} : { failure: o.failure }),
            ...(o.result === undefined ? {} : { result: toJson('ComputeResult', o.result) }),
          })),
        },
        null,
        2,
      )}\n`,
    );
  } else {
    for (const o of outcomes) {
      const detail = o.failure === undefined ? '' : `  ${o.failure.code}: ${o.failure.message}`;
      io.stdout(`${o.taskId}  ${o.state}  ${args[o.index]}${detail}\n`);
    }
    io.stdout(`${outcomes.length - failed}/${outcomes.length} succeeded\n`);
  }
  return failed === 0 ? EXIT.ok : EXIT.taskFailed;
}

export const COMMANDS = {
  submit,
  status,
  list,
  result,
  cancel,
  workers,
  stats,
  breakers,
  keys,
  map,
  model,
  workflow,
  audit,
  replay,
  webhooks,
} satisfies Record<string, Command>;
export type CommandName = keyof typeof COMMANDS;

/** Follows a task to its end with a progress bar; resolves with the final view. */
async function follow(task: Task, io: CliIo, values: CliValues): Promise<TaskView> {
  const bar = new ProgressBar(io.stderr, io.stderrIsTTY && values.json !== true);
  const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0)) {
    throw new UsageError(`--timeout must be a positive integer (ms), got "${values.timeout}"`);
  }
  const signal = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
  try {
    for await (const event of task.events(signal === undefined ? {} : { signal })) {
      const pct = event.payload['pct'];
      const shown = typeof pct === 'number' ? pct : event.state === 'succeeded' ? 100 : 0;
      bar.update({ total: 100, done: Math.round(shown), label: event.state });
    }
  } catch (error) {
    if (signal?.aborted === true) {
      bar.finish();
      throw new FlockError('WAIT_TIMEOUT', `task ${task.id} did not end within ${timeoutMs} ms (it goes on)`);
    }
    throw error;
  }
  bar.finish();
  return task.status();
}

function printView(io: CliIo, values: CliValues, view: TaskView): void {
  if (values.json === true) {
    io.stdout(`${JSON.stringify(view, null, 2)}\n`);
    return;
  }
  const lines = [`${view.task_id}  ${view.state}  op=${view.op}  module=${view.module_kind}`];
  if (view.campaign_id !== undefined) lines.push(`campaign ${view.campaign_id}`);
  if (view.progress !== undefined && view.state === 'running') lines.push(`progress ${view.progress.pct}%`);
  if (view.waiting_reason !== undefined) lines.push(`waiting: ${view.waiting_reason}`);
  for (const a of view.attempts) {
    const took = a.ended_at_ms === undefined ? 'running' : `${a.ended_at_ms - a.started_at_ms} ms`;
    lines.push(
      `attempt ${a.attempt}  worker ${a.worker_id}  ${a.outcome ?? ''}${a.code ? ` ${a.code}` : ''}  ${took}`,
    );
  }
  if (view.verification !== undefined) {
    lines.push(`verification: ${verificationText(view.verification)}`);
    // Only the first copy is an attempt above: name every worker that ran one.
    if (view.verification.workers.length > 0) lines.push(`copies on ${view.verification.workers.join(', ')}`);
  }
  if (view.failure !== undefined) lines.push(`failure ${view.failure.code}: ${view.failure.message}`);
  if (view.duration_ms !== undefined) lines.push(`ran ${view.duration_ms} ms on ${view.executor ?? '?'}`);
  io.stdout(`${lines.join('\n')}\n`);
}

async function printResult(
  client: FlockClient,
  io: CliIo,
  values: CliValues,
  computeResult: ComputeResult,
  outDir: string | undefined,
): Promise<void> {
  const outputs = computeResult.outputs ?? [];
  if (outDir !== undefined) {
    await mkdir(outDir, { recursive: true });
    for (const ref of outputs) {
      const path = join(outDir, safePath(ref));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, await client.outputBytes(ref));
    }
  }
  if (values.json === true) {
    io.stdout(`${JSON.stringify(toJson('ComputeResult', computeResult), null, 2)}\n`);
    return;
  }
  for (const ref of outputs) {
    const bytes = await client.outputBytes(ref);
    const text = outDir === undefined ? asText(ref, bytes) : undefined;
    const where = outDir === undefined ? '' : ` -> ${join(outDir, safePath(ref))}`;
    io.stdout(
      text === undefined
        ? `${ref.name ?? 'output'}: ${bytes.length} bytes ${ref.content_type ?? ''}${where}\n`
        : `${ref.name ?? 'output'}: ${text}\n`,
    );
  }
  const summary = Object.entries(computeResult.summary ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  if (summary !== '') io.stdout(`summary ${summary}\n`);
}

async function writeMapOutputs(client: FlockClient, dir: string, outcomes: MapOutcome[], inputs: string[]) {
  await mkdir(dir, { recursive: true });
  for (const o of outcomes) {
    for (const ref of o.result?.outputs ?? []) {
      const name = `${basename(inputs[o.index]!)}.${safeName(ref)}`;
      await writeFile(join(dir, name), await client.outputBytes(ref));
    }
  }
}

/** Text outputs are printed; binary ones (or long ones) are summarised. */
function asText(ref: DataRef, bytes: Uint8Array): string | undefined {
  if (ref.inline_json !== undefined) return ref.inline_json;
  const type = ref.content_type ?? '';
  const textual = type.startsWith('text/') || type.includes('json');
  if (!textual || bytes.length > 64 * 1024) return undefined;
  return new TextDecoder().decode(bytes).trimEnd();
}

export function safeName(ref: DataRef): string {
  const name = (ref.name ?? 'output').replace(/[^A-Za-z0-9._-]/g, '_');
  // A volunteer names outputs: never `.` or `..` (the directory itself, or its parent).
  return /^\.*$/.test(name) ? 'output' : name;
}

/**
 * Where `result --out` writes an output, relative to the folder: a WASI program's collected tree
 * keeps its directories (`data/summary.txt`), each component made safe as `safeName` makes a name,
 * so nothing lands outside the folder (`..` becomes `output`).
 */
export function safePath(ref: DataRef): string {
  const parts = (ref.name ?? 'output').split('/').filter((part) => part !== '');
  return parts.length === 0 ? 'output' : parts.map((part) => safeName({ name: part })).join('/');
}

function workerRow(w: WorkerView): string[] {
  const gpu = (w.capability['gpu'] ?? {}) as JsonObject;
  const gpuText =
    w.capability['webgpu'] === true ? `${gpu['vendor'] ?? '?'}/${gpu['architecture'] ?? '?'}` : '-';
  return [
    w.worker_id,
    w.connected ? 'yes' : 'no',
    gpuText,
    String(w.capability['cpu_cores'] ?? '?'),
    String(w.running),
    String(w.tasks_succeeded),
    String(w.tasks_failed),
    formatCredit(w.credit),
    formatCredit(w.pending_credit),
    String(w.valid_results),
    String(w.invalid_results),
    trustStatus(w),
  ];
}

/** --concurrency, default 4. */
export function parseConcurrency(values: CliValues): number {
  const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new UsageError(`--concurrency must be an integer in 1..256, got "${values.concurrency}"`);
  }
  return concurrency;
}

export function parseParams(text: string): JsonObject {
  try {
    return parseJsonObject(text, {
      maxBytes: DEFAULT_LIMITS.maxParamsBytes,
      maxDepth: DEFAULT_LIMITS.maxParamsDepth,
    });
  } catch (error) {
    throw new UsageError(`--params: ${(error as Error).message}`);
  }
}

export async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
