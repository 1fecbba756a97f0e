import { ProtocolError } from '@flock/protocol';
import { isFlockError } from '../flock-error.ts';

/** What `flock` exits with. Scripts may rely on these numbers. */
export const EXIT = {
  ok: 0,
  /** The task (or, for `map`, at least one task) failed or was cancelled. */
  taskFailed: 1,
  /** Bad command line, unreadable input file, or a request the coordinator refused as invalid. */
  usage: 2,
  /**
   * Missing or wrong API key (401), a task its signing key did not sign or signed wrongly
   * (401 SIGNATURE_REQUIRED, BAD_SIGNATURE), or a key without the scope the call needs (403 FORBIDDEN).
   */
  auth: 3,
  /** No such task, blob or campaign, or no open breaker of the op (404). */
  notFound: 4,
  /** The coordinator could not be reached, or did not answer in time. */
  unreachable: 5,
  /** `--wait --timeout MS`: the task had not ended by then (it goes on running). */
  waitTimeout: 6,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A bad command line; main prints the message and the usage hint and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The exit code an error stands for. */
export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof UsageError || error instanceof ProtocolError) return EXIT.usage;
  if (!isFlockError(error)) return EXIT.taskFailed;
  switch (error.code) {
    case 'UNAUTHENTICATED':
    case 'BAD_SIGNATURE':
    case 'SIGNATURE_REQUIRED':
    case 'FORBIDDEN':
      return EXIT.auth;
    case 'NOT_FOUND':
      return EXIT.notFound;
    case 'UNREACHABLE':
    case 'TIMEOUT':
      return EXIT.unreachable;
    case 'WAIT_TIMEOUT':
      return EXIT.waitTimeout;
    case 'TASK_FAILED':
    case 'TASK_CANCELLED':
    case 'WORKFLOW_FAILED':
    case 'WORKFLOW_CANCELLED':
      return EXIT.taskFailed;
    default:
      if (error.status === 401) return EXIT.auth;
      if (error.status === 404) return EXIT.notFound;
      if (error.status >= 400 && error.status < 500) return EXIT.usage;
      return EXIT.taskFailed;
  }
}
