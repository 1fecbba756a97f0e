import { LibraryError, type LibraryErrorCode } from '@flock/libraries';
import type { JobSuccess } from './job.ts';

// The failure codes an executor reports (contract A): every job failure crosses the thread and the
// wire as `{ code, message, retryable }`, never as a stack trace (STYLE.md 7).

/** Stable failure codes of the volunteer tab. */
export type ExecutorErrorCode =
  | 'TIMEOUT'
  | 'MEMORY_LIMIT'
  | 'OUTPUT_TOO_LARGE'
  | 'INPUT_TOO_LARGE'
  | 'HASH_MISMATCH'
  | 'FORBIDDEN_IMPORT'
  | 'SHADER_COMPILE'
  | 'DEVICE_LOST'
  | 'BUFFER_TOO_LARGE'
  | 'UNSUPPORTED'
  | 'EXECUTION_ERROR'
  | 'CANCELLED'
  | 'FUEL_EXHAUSTED'
  | 'ARENA_FULL'
  | 'NEED_MODULE'
  /** A library job's own failures (@flock/libraries: PIXEL_LIMIT, INVALID_INPUT, FORBIDDEN...). */
  | LibraryErrorCode;

/**
 * Codes worth another attempt elsewhere: this tab could not finish the job, another may. A
 * TIMEOUT is not: a job that loops here loops everywhere (the requester's qos.retries still apply);
 * nor is FUEL_EXHAUSTED, whose count is the same on every tab. ARENA_FULL: this tab's executor had
 * no room for the job's bytes now. NEED_MODULE never leaves the tab: an executor that no longer has
 * a module compiled asks for its bytes, and the job is sent again with them.
 */
const RETRYABLE: ReadonlySet<ExecutorErrorCode> = new Set([
  'DEVICE_LOST',
  'CANCELLED',
  'BUFFER_TOO_LARGE',
  'ARENA_FULL',
  'NEED_MODULE',
]);

/** A job failure with a stable code; `retryable` defaults from the code. */
export class ExecutorError extends Error {
  readonly code: ExecutorErrorCode;
  readonly retryable: boolean;
  /** The params path or input at fault (`params.mounts["/"]`, `inputs[1]`), when there is one. */
  readonly field: string | undefined;

  constructor(code: ExecutorErrorCode, message: string, retryable = RETRYABLE.has(code), field?: string) {
    super(message);
    this.name = 'ExecutorError';
    this.code = code;
    this.retryable = retryable;
    this.field = field;
  }
}

/** The plain-object form of a failure that crosses to the main thread and becomes a ComputeFailure. */
export interface JobFailure {
  ok: false;
  code: ExecutorErrorCode;
  message: string;
  retryable: boolean;
  /** The params path at fault (a library job's `params.width`, `inputs[1]`), when there is one. */
  field?: string | undefined;
  /** What a job that stopped cooperatively (cancel, timeout) wrote before it did. */
  partial?: JobSuccess | undefined;
}

/** Turns anything thrown inside an executor into a JobFailure; unknown errors are EXECUTION_ERROR. */
export function toJobFailure(error: unknown): JobFailure {
  if (error instanceof ExecutorError) {
    const failure: JobFailure = {
      ok: false,
      code: error.code,
      message: error.message,
      retryable: error.retryable,
    };
    if (error.field !== undefined) failure.field = error.field;
    return failure;
  }
  if (error instanceof LibraryError) {
    const failure: JobFailure = {
      ok: false,
      code: error.code,
      message: error.message,
      retryable: error.retryable,
    };
    if (error.field !== undefined) failure.field = error.field;
    return failure;
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { ok: false, code: 'EXECUTION_ERROR', message: message.slice(0, 500), retryable: false };
}
