/** Stable codes of every trust-engine failure (misuse by the coordinator or bad input). */
export type TrustErrorCode =
  /** The task's `verification` policy is out of range (quorum > replicas, negative tolerance, ...). */
  | 'INVALID_POLICY'
  /** No verification is open for this task id (never opened, or forgotten). */
  | 'UNKNOWN_TASK'
  /** No spot check with this id is in flight. */
  | 'UNKNOWN_CHECK'
  /** A result or release from a worker that holds no running replica of the task. */
  | 'NOT_ASSIGNED'
  /** The worker may not run (another) replica of this task: see `TrustEngine.eligible`. */
  | 'NOT_ELIGIBLE'
  /** An output carries neither bytes nor a hash, or the tolerance comparator has no bytes. */
  | 'OUTPUT_MISSING'
  /** The tolerance comparator needs f32 outputs: a byte length that is not a multiple of 4. */
  | 'NOT_F32'
  /** The known-answer source cannot build a check for this op. */
  | 'UNKNOWN_OP';

/** The one error type of the trust module; `field` names the offending input when there is one. */
export class TrustError extends Error {
  readonly code: TrustErrorCode;
  readonly field: string | undefined;

  constructor(code: TrustErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'TrustError';
    this.code = code;
    this.field = field;
  }
}
