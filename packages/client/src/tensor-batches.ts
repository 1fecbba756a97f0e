// Tensors in, tensors out, for ml.* library ops: an .npy dataset is split along its leading
// dimension into tasks of `batch` rows (each task's input raw little-endian bytes with its
// TensorSpec), and each task's outputs are joined back in order, one array per input file and
// output name: tensors as .npy, JSON outputs (classes.json) as one JSON array of all rows.
import { LibraryError } from '@flock/libraries';
import { isNpy, isTensorDtype, readNpy, type TensorShape, writeNpy } from '@flock/libraries/models';
import type { DataRef, JsonObject } from '@flock/protocol';
import type { FlockClient } from './flock-client.ts';
import { FlockError } from './flock-error.ts';
import {
  checkLibraryParams,
  type LibraryMapOptions,
  type LibraryOp,
  type LibraryParams,
} from './library-calls.ts';
import { dataInput } from './library-inputs.ts';
import type { MapOutcome } from './map-tasks.ts';

/** A tensor as raw little-endian bytes with its dtype and shape. */
export interface TensorBytes {
  tensor: TensorShape;
  bytes: Uint8Array;
}

/** One .npy file of a tensor map: its name (outputs are named after it) and bytes. */
export interface TensorFile {
  name: string;
  bytes: Uint8Array;
}

export interface TensorMapOptions extends LibraryMapOptions {
  /** Rows (leading dimension) per task; default: one task per file. */
  batch?: number;
  /** The input's name (the model input it feeds); default the file name without `.npy`. */
  inputName?: string;
}

/** How one batch ended: `file` indexes the files, `batch` counts from 0, `rows` its row count. */
export interface TensorOutcome extends MapOutcome {
  file: number;
  batch: number;
  rows: number;
}

/** Reads an .npy file's tensor; FlockError INVALID_INPUT naming the file when it is not one. */
export function readTensorFile(file: TensorFile): TensorBytes {
  if (!isNpy(file.bytes)) throw new FlockError('INVALID_INPUT', `${file.name} is not an .npy file`);
  try {
    const { dtype, shape, data } = readNpy(file.bytes, file.name);
    return { tensor: { dtype, shape }, bytes: data };
  } catch (error) {
    if (!(error instanceof LibraryError)) throw error;
    throw new FlockError('INVALID_INPUT', `${file.name}: ${error.message}`);
  }
}

/** Splits a tensor along its leading dimension into parts of at most `batch` rows, in order. */
export function splitRows(whole: TensorBytes, batch?: number): TensorBytes[] {
  const [rows, ...rest] = whole.tensor.shape;
  if (rows === undefined) throw new FlockError('INVALID_INPUT', 'a scalar tensor has no rows to split');
  const size = batch ?? Math.max(rows, 1);
  if (!Number.isInteger(size) || size < 1)
    throw new FlockError('INVALID_ARGUMENT', 'batch must be a positive integer');
  if (rows === 0) return [whole];
  const rowBytes = whole.bytes.byteLength / rows;
  const parts: TensorBytes[] = [];
  for (let start = 0; start < rows; start += size) {
    const n = Math.min(size, rows - start);
    parts.push({
      tensor: { dtype: whole.tensor.dtype, shape: [n, ...rest] },
      bytes: whole.bytes.subarray(start * rowBytes, (start + n) * rowBytes),
    });
  }
  return parts;
}

/** Joins tensors of one dtype and the same trailing dims along the leading dimension. */
export function joinRows(parts: readonly TensorBytes[]): TensorBytes {
  const first = parts[0];
  if (!first) throw new FlockError('INVALID_ARGUMENT', 'nothing to join');
  const tail = JSON.stringify(first.tensor.shape.slice(1));
  let rows = 0;
  for (const p of parts) {
    if (p.tensor.dtype !== first.tensor.dtype || JSON.stringify(p.tensor.shape.slice(1)) !== tail) {
      throw new FlockError('INVALID_ARGUMENT', 'parts differ in dtype or trailing dims');
    }
    rows += p.tensor.shape[0] ?? 1;
  }
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.bytes.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p.bytes, at);
    at += p.bytes.byteLength;
  }
  return { tensor: { dtype: first.tensor.dtype, shape: [rows, ...first.tensor.shape.slice(1)] }, bytes };
}

/**
 * Runs an ml.* op over .npy files: each file split into tasks of `options.batch` rows (a campaign
 * of them all), each task's one input the rows' raw bytes with their TensorSpec, inline when
 * small and uploaded once as a blob when not. One outcome per batch, in file and row order.
 */
export async function mapTensors<Op extends LibraryOp>(
  client: FlockClient,
  op: Op,
  params: LibraryParams[Op],
  files: readonly TensorFile[],
  options: TensorMapOptions = {},
): Promise<TensorOutcome[]> {
  checkLibraryParams(op, params, 1);
  const { batch, inputName, ...mapOptions } = options;
  const items: DataRef[][] = [];
  const where: Array<{ file: number; batch: number; rows: number }> = [];
  for (const [f, file] of files.entries()) {
    const name = inputName ?? file.name.replace(/\.npy$/i, '');
    for (const [b, part] of splitRows(readTensorFile(file), batch).entries()) {
      const ref = await dataInput(client, name, 'application/octet-stream', part.bytes);
      items.push([{ ...ref, tensor: { dtype: part.tensor.dtype, shape: part.tensor.shape } }]);
      where.push({ file: f, batch: b, rows: part.tensor.shape[0]! });
    }
  }
  const outcomes = await client.map({ kind: 'library' }, items, {
    ...mapOptions,
    op,
    params: params as JsonObject,
    requirements: options.requirements ?? { min: { wasm: true } },
  });
  return outcomes.map((o) => ({ ...o, ...where[o.index]! }));
}

/** One joined output of a tensor map: the file it is written as and its bytes. */
export interface JoinedOutput {
  /** `<input stem>.<output>.npy` for tensors (digits.logits.npy), `<input stem>.<output>` for JSON. */
  fileName: string;
  bytes: Uint8Array;
  /** Rows joined. */
  rows: number;
}

const isJsonOutput = (ref: DataRef): boolean =>
  ref.inline_json !== undefined || (ref.content_type ?? '').startsWith('application/json');

/** A tensor output's bytes with its TensorSpec (float32 [rows, n] when the result carries none). */
function tensorOf(ref: DataRef, bytes: Uint8Array, rows: number): TensorBytes {
  const { dtype, shape } = ref.tensor ?? {};
  if (dtype && shape && isTensorDtype(dtype)) return { tensor: { dtype, shape }, bytes };
  return { tensor: { dtype: 'float32', shape: [rows, bytes.byteLength / 4 / Math.max(rows, 1)] }, bytes };
}

/**
 * Joins the outputs of one file's batches, in row order, per output name. Undefined when a batch
 * of it did not succeed (a partial array would misalign rows).
 */
export async function joinFileOutputs(
  client: FlockClient,
  stem: string,
  outcomes: readonly TensorOutcome[],
): Promise<JoinedOutput[] | undefined> {
  const ordered = [...outcomes].sort((a, b) => a.batch - b.batch);
  if (ordered.length === 0 || ordered.some((o) => o.state !== 'succeeded')) return undefined;
  const tensors = new Map<string, TensorBytes[]>();
  const json = new Map<string, unknown[]>();
  for (const o of ordered) {
    for (const ref of o.result?.outputs ?? []) {
      const name = ref.name ?? 'output';
      const bytes = await client.outputBytes(ref);
      if (isJsonOutput(ref)) {
        const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
        json.set(name, [...(json.get(name) ?? []), ...(Array.isArray(value) ? value : [value])]);
      } else {
        tensors.set(name, [...(tensors.get(name) ?? []), tensorOf(ref, bytes, o.rows)]);
      }
    }
  }
  const rows = ordered.reduce((n, o) => n + o.rows, 0);
  const joined: JoinedOutput[] = [];
  for (const [name, parts] of tensors) {
    const whole = joinRows(parts);
    const fileName = `${stem}.${name.replace(/\.npy$/i, '')}.npy`;
    joined.push({ fileName, bytes: writeNpy(whole.tensor, whole.bytes), rows });
  }
  for (const [name, values] of json) {
    joined.push({
      fileName: `${stem}.${name}`,
      bytes: new TextEncoder().encode(`${JSON.stringify(values)}\n`),
      rows,
    });
  }
  return joined;
}
