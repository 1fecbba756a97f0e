import { isFlockError } from '@flock/client';

/**
 * A sentence a person can act on, for any error the SDK or the coordinator raises. `subject` names
 * what a refusal with a field was about (default `envelope`: `Invalid envelope: field "op": …`).
 */
export function describeError(error: unknown, subject = 'envelope'): string {
  if (!isFlockError(error)) return error instanceof Error ? error.message : String(error);
  switch (error.code) {
    case 'UNAUTHENTICATED':
      return 'The coordinator refused this API key (401 UNAUTHENTICATED). Check the key and sign in again.';
    case 'UNREACHABLE':
      return 'Lost connection to the coordinator: it did not answer. Is it running?';
    case 'TIMEOUT':
      return 'The coordinator did not answer in time.';
    case 'NOT_FOUND':
      return `Not found: ${error.message}`;
    case 'ALREADY_FINISHED':
      return 'The task has already finished: there is nothing to cancel.';
    default:
      if (error.field !== undefined) {
        return `Invalid ${subject}: field "${error.field}": ${error.message} (${error.code})`;
      }
      // 429 RATE_LIMITED / QUOTA_EXCEEDED, 503 QUEUE_FULL: when the coordinator said to try again.
      if (error.retryAfterMs !== undefined) {
        return `${error.message} (${error.code}); try again in ${Math.max(1, Math.ceil(error.retryAfterMs / 1000))} s`;
      }
      return `${error.message} (${error.code})`;
  }
}
