import { isFlockError } from '@flock/client';

/** A sentence a person can act on, for any error the SDK or the coordinator raises. */
export function describeError(error: unknown): string {
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
        return `Invalid envelope: field "${error.field}": ${error.message} (${error.code})`;
      }
      return `${error.message} (${error.code})`;
  }
}
