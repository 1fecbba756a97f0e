// The engine's picture of a volunteer connection and of the links the edge gives it.
import type { Frame_Payload, FrameOptions, Standing } from '@flock/protocol';
import type { SchedWorker } from './scheduler.ts';

/** How the coordinator talks to one connected volunteer (the worker hub implements it). */
export interface WorkerLink {
  /**
   * Sends one frame (`frame`: its trace and metadata, for an assignment); false when the socket
   * is no longer open.
   */
  send(payload: Frame_Payload, frame?: Pick<FrameOptions, 'trace' | 'metadata'>): boolean;
  bufferedAmount(): number;
  close(code: number, reason: string): void;
  /** The User-Agent of the connection's upgrade request (the audit log's worker fingerprint). */
  readonly userAgent?: string | undefined;
}

/** A large output received as a stream and stored as a blob, waiting for its result frame. */
export interface StoredStream {
  leaseId: string;
  hex: string | undefined;
  size: number;
  name: string;
  contentType: string;
  /** Set when the stream was refused or its hash did not match. */
  error: string | undefined;
}

/** A volunteer known to this process (connected now, or recently). */
export interface WorkerState extends SchedWorker {
  sessionHash: string;
  link: WorkerLink | undefined;
  /** Welcome sent: assignments may flow (none may overtake the welcome). */
  ready: boolean;
  client: string;
  connectedAtMs: number;
  lastSeenMs: number;
  succeeded: number;
  failed: number;
  streams: Map<string, StoredStream>;
  /** Failed a known-answer check: gets no more work (its standing is kept by the trust engine). */
  quarantined: boolean;
  /** Checks in a row it could not run (failure, lost lease): after 3 it gets no more. */
  checkMisses: number;
  /** Its first check is out: it gets nothing else until that is judged. */
  onProbation: boolean;
  /** The standing last read from the trust engine; unset once a verdict may have changed it. */
  standing?: Standing | undefined;
  /**
   * A new identity (not resumed) that has been sent nothing yet: when it leaves it is forgotten,
   * its stored row too, so connections that say hello and leave leave nothing behind.
   */
  fresh: boolean;
}

/** Refusal codes of result_ack (Contract A, 7). */
export type AckCode =
  | 'LEASE_UNKNOWN'
  | 'LEASE_EXPIRED'
  | 'WRONG_TOKEN'
  | 'TASK_MISMATCH'
  | 'TASK_CANCELLED'
  | 'STREAM_UNKNOWN'
  | 'HASH_MISMATCH'
  | 'DUPLICATE';

/** The scheduler's estimate of a worker's reliability from its outcomes: (ok+1)/(ok+failed+2). */
export function reliabilityOf(worker: Pick<WorkerState, 'succeeded' | 'failed'>): number {
  return (worker.succeeded + 1) / (worker.succeeded + worker.failed + 2);
}
