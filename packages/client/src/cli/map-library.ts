// `flock map --library <library>.<method> --params JSON files... --out DIR`: one library task per
// file, the file its input under its own name. The call is checked against the method's schema
// before anything is sent (a misspelt param is a usage error here, not a failed task), large files
// are uploaded once, and each output is written under the name the library gave it (cat.png →
// cat.jpg), prefixed with its input's name where two tasks' outputs share one (digests.json).
// ml.* ops take .npy files instead, split into batches of rows (map-tensors.ts).
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { JsonObject } from '@flock/protocol';
import type { FlockClient } from '../flock-client.ts';
import { FlockError } from '../flock-error.ts';
import { checkLibraryParams, type LibraryFile, type LibraryOp } from '../library-calls.ts';
import type { MapOutcome } from '../map-tasks.ts';
import {
  type CliContext,
  parseConcurrency,
  readBytes,
  reportMap,
  safeName,
  traceOption,
} from './commands.ts';
import { UsageError } from './exit-codes.ts';
import { mapTensorFiles } from './map-tensors.ts';
import { ProgressBar } from './progress-bar.ts';

export async function mapLibrary(
  { client, io, values, args }: Omit<CliContext, 'readInput'>,
  op: string,
  params: JsonObject | undefined,
): Promise<number> {
  try {
    checkLibraryParams(op, params ?? {}, 1);
  } catch (error) {
    if (!(error instanceof FlockError)) throw error;
    throw new UsageError(`--library ${op}: ${error.message} (${error.code})`);
  }
  if (op.startsWith('ml.')) return mapTensorFiles({ client, io, values, args }, op, params ?? {});
  const concurrency = parseConcurrency(values);
  const bar = new ProgressBar(io.stderr, io.stderrIsTTY && values.json !== true);
  const files: LibraryFile[] = [];
  for (const path of args) files.push({ name: basename(path), bytes: await readBytes(path) });
  // The op and params were checked against the schema above; the CLI takes them as text.
  const outcomes = await client.mapLibrary(op as LibraryOp, (params ?? {}) as never, files, {
    concurrency,
    ...(values.campaign === undefined ? {} : { campaignId: values.campaign }),
    ...traceOption(values, io),
    onProgress: (p) => bar.update({ total: p.total, done: p.done, failed: p.failed + p.cancelled }),
  });
  bar.finish();
  if (values.out !== undefined) await writeLibraryOutputs(client, values.out, outcomes, args);
  return reportMap(io, values, outcomes, args);
}

/** Each output under its own name, or `<input>.<name>` where two outcomes' output names clash. */
async function writeLibraryOutputs(
  client: FlockClient,
  dir: string,
  outcomes: MapOutcome[],
  inputs: string[],
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const seen = new Map<string, number>();
  for (const o of outcomes) {
    for (const ref of o.result?.outputs ?? []) seen.set(safeName(ref), (seen.get(safeName(ref)) ?? 0) + 1);
  }
  for (const o of outcomes) {
    for (const ref of o.result?.outputs ?? []) {
      const name = safeName(ref);
      const file = seen.get(name) === 1 ? name : `${basename(inputs[o.index]!)}.${name}`;
      await writeFile(join(dir, file), await client.outputBytes(ref));
    }
  }
}
