/**
 * The coordinator's error catalogue. Every error that reaches a requester or a volunteer carries
 * one of these stable codes; HTTP responses map them to a status with `httpStatus`.
 */
export type CoordinatorErrorCode =
  | 'UNAUTHENTICATED'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'NOT_READY'
  | 'ALREADY_FINISHED'
  | 'BODY_TOO_LARGE'
  | 'TASK_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'METHOD_NOT_ALLOWED'
  | 'BAD_JSON'
  | 'INVALID_ARGUMENT'
  /** An op that is no built-in op, or no method of a library. */
  | 'UNKNOWN_OP'
  /** A library method's params that its schema refuses. */
  | 'INVALID_PARAMS'
  /** An ml.* task whose `params.model` names no uploaded model. */
  | 'UNKNOWN_MODEL'
  | 'HASH_MISMATCH'
  | 'MODULE_REFUSED'
  | 'MODULE_FETCH_FAILED'
  | 'RATE_LIMITED'
  /** A CORS preflight from an Origin not in FLOCK_CORS_ORIGINS. */
  | 'ORIGIN_NOT_ALLOWED'
  /** A key without the scope a route or an op needs (the message names it). */
  | 'FORBIDDEN'
  /** A tenant at its quota of queued tasks (FLOCK_TENANT_MAX_QUEUED); 429 with Retry-After. */
  | 'QUOTA_EXCEEDED'
  /**
   * The coordinator holds as many open tasks as its memory allows (FLOCK_MAX_OPEN_BYTES); 503
   * with Retry-After: room comes back as tasks finish.
   */
  | 'QUEUE_FULL'
  /** A task whose `security.task_token` is not the HMAC of its canonical form under the key's secret. */
  | 'BAD_SIGNATURE'
  /** An unsigned task from a key configured with a signing secret (`|sign:`). */
  | 'SIGNATURE_REQUIRED'
  | 'REQUEST_TIMEOUT'
  /**
   * The shared store (PostgreSQL) cannot be reached now: 503 with Retry-After. Nothing of the
   * request is known to be stored; a retried submission is safe (idempotent on task_id).
   */
  | 'STORE_UNAVAILABLE'
  | 'INTERNAL'
  | 'CONFIG_INVALID';

const STATUS: Record<CoordinatorErrorCode, number> = {
  UNAUTHENTICATED: 401,
  NOT_FOUND: 404,
  CONFLICT: 409,
  NOT_READY: 409,
  ALREADY_FINISHED: 409,
  BODY_TOO_LARGE: 413,
  TASK_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  METHOD_NOT_ALLOWED: 405,
  BAD_JSON: 400,
  INVALID_ARGUMENT: 400,
  UNKNOWN_OP: 400,
  INVALID_PARAMS: 400,
  UNKNOWN_MODEL: 400,
  HASH_MISMATCH: 400,
  MODULE_REFUSED: 400,
  MODULE_FETCH_FAILED: 502,
  RATE_LIMITED: 429,
  ORIGIN_NOT_ALLOWED: 403,
  FORBIDDEN: 403,
  QUOTA_EXCEEDED: 429,
  QUEUE_FULL: 503,
  BAD_SIGNATURE: 401,
  SIGNATURE_REQUIRED: 401,
  REQUEST_TIMEOUT: 408,
  STORE_UNAVAILABLE: 503,
  INTERNAL: 500,
  CONFIG_INVALID: 500,
};

/** A typed coordinator error; `field` names the offending input field when there is one. */
export class CoordinatorError extends Error {
  readonly code: CoordinatorErrorCode;
  readonly field: string | undefined;

  constructor(code: CoordinatorErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'CoordinatorError';
    this.code = code;
    this.field = field;
  }

  get httpStatus(): number {
    return STATUS[this.code];
  }
}

/** Closes a switch over a union: a new member becomes a type error here. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${String(value)}`);
}
