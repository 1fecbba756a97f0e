// Typed helpers for library ops (`module.kind = "library"`): `client.library('image.resize',
// { width: 800 }, files)` and `client.mapLibrary(...)`. Params are typed per op from the method
// schemas (./generated/library-params.ts) and checked here as the coordinator will check them, so a
// misspelt param fails before any file is uploaded, with the coordinator's code and field.
import { checkLibraryCall, LibraryError } from '@flock/libraries';
import type { DataRef, JsonObject, Requirements } from '@flock/protocol';
import type { FlockClient } from './flock-client.ts';
import { FlockError } from './flock-error.ts';
import type { LibraryOp, LibraryParams } from './generated/library-params.ts';
import { libraryInput } from './library-inputs.ts';
import type { MapOptions, MapOutcome } from './map-tasks.ts';
import { randomId } from './random-id.ts';
import type { Task } from './task.ts';

export type { LibraryOp, LibraryParams } from './generated/library-params.ts';

/** One input file of a library task; the library names its outputs after it (cat.png → cat.jpg). */
export interface LibraryFile {
  name: string;
  bytes: Uint8Array;
}

export interface LibraryTaskOptions {
  /** Default `<library>-<method>-<16 hex>`. */
  taskId?: string;
  /** Default `{ min: { wasm: true } }`; the coordinator adds what the library itself needs. */
  requirements?: Requirements;
  /** A W3C `traceparent` the task joins (see `SubmitOptions.traceparent`). */
  traceparent?: string | undefined;
}

export type LibraryMapOptions = Omit<MapOptions, 'op' | 'params' | 'inputName' | 'contentType'>;

const DEFAULT_REQUIREMENTS: Requirements = { min: { wasm: true } };

/**
 * Checks a call as the coordinator does at submit. Throws FlockError with the library's code
 * (UNKNOWN_LIBRARY, UNKNOWN_METHOD, INVALID_PARAMS, INPUT_COUNT, ...) and the offending `field`.
 */
export function checkLibraryParams(op: string, params: unknown, inputCount: number): void {
  try {
    checkLibraryCall(op, params, inputCount);
  } catch (error) {
    if (!(error instanceof LibraryError)) throw error;
    throw new FlockError(error.code, error.message, { field: error.field, cause: error });
  }
}

/** One library task over `files` (all inputs of the one task). */
export async function submitLibrary<Op extends LibraryOp>(
  client: FlockClient,
  op: Op,
  params: LibraryParams[Op],
  files: readonly LibraryFile[],
  options: LibraryTaskOptions = {},
): Promise<Task> {
  checkLibraryParams(op, params, files.length);
  const inputs: DataRef[] = [];
  for (const file of files) inputs.push(await libraryInput(client, file.name, file.bytes));
  return client.submit(
    {
      task_id: options.taskId ?? `${op.replace('.', '-')}-${randomId()}`,
      op,
      module: { kind: 'library' },
      params: params as JsonObject,
      inputs,
      requirements: options.requirements ?? DEFAULT_REQUIREMENTS,
    },
    { traceparent: options.traceparent },
  );
}

/** One library task per file (a campaign), like `flock map --library`; one outcome per file. */
export async function mapLibrary<Op extends LibraryOp>(
  client: FlockClient,
  op: Op,
  params: LibraryParams[Op],
  files: readonly LibraryFile[],
  options: LibraryMapOptions = {},
): Promise<MapOutcome[]> {
  checkLibraryParams(op, params, 1);
  const items: DataRef[][] = [];
  for (const file of files) items.push([await libraryInput(client, file.name, file.bytes)]);
  return client.map({ kind: 'library' }, items, {
    ...options,
    op,
    params: params as JsonObject,
    requirements: options.requirements ?? DEFAULT_REQUIREMENTS,
  });
}
