// `flock map --library ml.<method> --params '{"model":"flock:sha256:…"}' [--batch N] data.npy --out DIR`:
// each .npy file split along its leading dimension into tasks of N rows (default one task per
// file), and with --out each output joined back in row order per input file and output name
// (DIR/data.logits.npy, DIR/data.classes.json). `flock model upload FILE.onnx` prints the uri
// that `params.model` names.
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { toJson } from '@flock/protocol';
import type { FlockClient } from '../flock-client.ts';
import { FlockError } from '../flock-error.ts';
import type { LibraryOp } from '../library-calls.ts';
import { joinFileOutputs, type TensorFile, type TensorOutcome } from '../tensor-batches.ts';
import { type CliContext, type Command, parseConcurrency, readBytes, traceOption } from './commands.ts';
import { EXIT, UsageError } from './exit-codes.ts';
import type { CliIo, CliValues } from './main.ts';
import { ProgressBar } from './progress-bar.ts';

/** --batch: rows per task, 1..1,000,000; undefined: one task per file. */
function parseBatch(values: CliValues): number | undefined {
  if (values.batch === undefined) return undefined;
  const batch = Number(values.batch);
  if (!Number.isInteger(batch) || batch < 1 || batch > 1_000_000) {
    throw new UsageError(`--batch must be an integer in 1..1000000, got "${values.batch}"`);
  }
  return batch;
}

const stemOf = (path: string) => basename(path).replace(/\.npy$/i, '');

export async function mapTensorFiles(
  { client, io, values, args }: Omit<CliContext, 'readInput'>,
  op: string,
  params: unknown,
): Promise<number> {
  const batch = parseBatch(values);
  const concurrency = parseConcurrency(values);
  const files: TensorFile[] = [];
  for (const path of args) files.push({ name: basename(path), bytes: await readBytes(path) });
  const bar = new ProgressBar(io.stderr, io.stderrIsTTY && values.json !== true);
  let outcomes: TensorOutcome[];
  try {
    // The op and params were checked against the method's schema by the caller.
    outcomes = await client.mapTensors(op as LibraryOp, params as never, files, {
      concurrency,
      ...(batch === undefined ? {} : { batch }),
      ...(values['input-name'] === undefined ? {} : { inputName: values['input-name'] }),
      ...(values.campaign === undefined ? {} : { campaignId: values.campaign }),
      ...traceOption(values, io),
      onProgress: (p) => bar.update({ total: p.total, done: p.done, failed: p.failed + p.cancelled }),
    });
  } catch (error) {
    if (error instanceof FlockError && error.code === 'INVALID_INPUT') throw new UsageError(error.message);
    throw error;
  }
  bar.finish();
  if (values.out !== undefined) await writeJoined(client, io, values.out, outcomes, args);
  return report(io, values, outcomes, args);
}

/** Each input file's outputs joined in row order; files with a failed batch are named, not written. */
async function writeJoined(
  client: FlockClient,
  io: CliIo,
  dir: string,
  outcomes: TensorOutcome[],
  inputs: string[],
): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [f, path] of inputs.entries()) {
    const joined = await joinFileOutputs(
      client,
      stemOf(path),
      outcomes.filter((o) => o.file === f),
    );
    if (joined === undefined) {
      io.stderr(`flock: ${path}: a batch did not succeed; its outputs are not written\n`);
      continue;
    }
    for (const out of joined) await writeFile(join(dir, out.fileName), out.bytes);
  }
}

function report(io: CliIo, values: CliValues, outcomes: TensorOutcome[], inputs: string[]): number {
  const failed = outcomes.filter((o) => o.state !== 'succeeded').length;
  if (values.json === true) {
    const rows = outcomes.map((o) => ({
      input: inputs[o.file],
      batch: o.batch,
      rows: o.rows,
      task_id: o.taskId,
      state: o.state,
      ...(o.failure === undefined ? {} : { failure: o.failure }),
      ...(o.result === undefined ? {} : { result: toJson('ComputeResult', o.result) }),
    }));
    io.stdout(`${JSON.stringify({ outcomes: rows }, null, 2)}\n`);
  } else {
    for (const o of outcomes) {
      const detail = o.failure === undefined ? '' : `  ${o.failure.code}: ${o.failure.message}`;
      io.stdout(`${o.taskId}  ${o.state}  ${inputs[o.file]}#${o.batch} (${o.rows} rows)${detail}\n`);
    }
    io.stdout(`${outcomes.length - failed}/${outcomes.length} succeeded\n`);
  }
  return failed === 0 ? EXIT.ok : EXIT.taskFailed;
}

/** `flock model upload FILE.onnx`: uploads an ONNX model and prints its uri (--json: hash, size, uri). */
export const model: Command = async ({ client, io, values, args }) => {
  const [verb, path, ...rest] = args;
  if (verb !== 'upload' || path === undefined || rest.length > 0) {
    throw new UsageError('usage: flock model upload <model.onnx>');
  }
  const ref = await client.uploadModel(await readBytes(path));
  io.stdout(values.json === true ? `${JSON.stringify(ref, null, 2)}\n` : `${ref.uri}\n`);
  return EXIT.ok;
};
