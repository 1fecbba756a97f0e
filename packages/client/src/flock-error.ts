/**
 * Codes the SDK itself raises. Errors the coordinator returns keep the server's code
 * (`UNAUTHENTICATED`, `NOT_FOUND`, `CONFLICT`, `NOT_READY`, `ALREADY_FINISHED`, a validation code, ...).
 */
export type ClientErrorCode =
  /** No connection could be made (DNS, refused, reset); `status` is 0. */
  | 'UNREACHABLE'
  /** A request (or a WebSocket handshake) got no answer within its time limit. */
  | 'TIMEOUT'
  /** `task.wait({ timeoutMs })`: the task did not end in time (it goes on running). */
  | 'WAIT_TIMEOUT'
  /** The caller aborted through an AbortSignal. */
  | 'ABORTED'
  /** The server answered something that is not contract B (not JSON, no error object). */
  | 'BAD_RESPONSE'
  /** `task.result()` on a task that ended `failed`; `failure` holds the task's failure. */
  | 'TASK_FAILED'
  /** `task.result()` on a task that ended `cancelled`. */
  | 'TASK_CANCELLED'
  /** `workflow.result()` on a workflow that ended `failed`; `failure` holds its code and message. */
  | 'WORKFLOW_FAILED'
  /** `workflow.result()` on a workflow that ended `cancelled`. */
  | 'WORKFLOW_CANCELLED'
  /** Bad arguments to an SDK call (caught before anything is sent). */
  | 'INVALID_ARGUMENT';

/** Every error the SDK throws: a stable `code`, the HTTP `status` (0 when none), the offending `field`. */
export class FlockError extends Error {
  override readonly name = 'FlockError';
  readonly code: ClientErrorCode | (string & {});
  /** HTTP status of the response that carried the error; 0 for errors raised locally. */
  readonly status: number;
  /** The request field the server blamed (validation errors), e.g. `module.kind`. */
  readonly field: string | undefined;
  /** For `TASK_FAILED`: the task's failure code and message. */
  readonly failure: { code: string; message: string } | undefined;
  /** `Retry-After` in ms (429 `RATE_LIMITED`, `QUOTA_EXCEEDED`; 503 `QUEUE_FULL`, `STORE_UNAVAILABLE`): when to try again. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ClientErrorCode | (string & {}),
    message: string,
    options: {
      status?: number;
      field?: string | undefined;
      failure?: { code: string; message: string };
      retryAfterMs?: number | undefined;
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status ?? 0;
    this.field = options.field;
    this.failure = options.failure;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Narrows an unknown error to a FlockError. */
export function isFlockError(error: unknown): error is FlockError {
  return error instanceof FlockError;
}
