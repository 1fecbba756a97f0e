// Results and failures of one volunteer connection whose commit found the store unreachable (a
// PostgreSQL outage): kept, stored again every retry interval until the store answers, their
// leases renewed meanwhile so that they do not expire while the volunteer waits, and each acked
// once stored. Why not answer at once: a `result_ack` is final for the tab ("either way the tab
// may forget it", Contract A), so a refusal would lose the result; and closing the connection
// would stop the heartbeats of the jobs the tab still runs. If the connection closes first, what
// is parked here is dropped: the tab keeps every outcome until its ack and sends it again in its
// next hello (`undelivered`) or right after the welcome.
import type { ComputeFailure, ComputeResult, ResultAck } from '@flock/protocol';
import { storeUnavailable } from '../store/store-unavailable.ts';

/** A result or a failure, as the volunteer sent it. */
export type ParkedOutcome = { result: ComputeResult } | { failure: ComputeFailure };

/** What parking needs of its connection and the engine. */
export interface ParkedOutcomesPort {
  /** Handles the outcome again (`Coordinator.handleResult` / `handleFailure`): its ack. */
  handle(outcome: ParkedOutcome): Promise<ResultAck>;
  /** Renews these leases of the connection's worker. */
  renew(leaseIds: string[]): void;
  /** Sends the ack of an outcome now stored. */
  ack(ack: ResultAck): void;
  /** A retry failed for another reason than the store being unreachable. */
  failed(err: unknown): void;
}

export class ParkedOutcomes {
  /** By lease id, in the order they arrived (a resend for the same lease replaces its outcome). */
  private readonly held = new Map<string, ParkedOutcome>();
  private timer: NodeJS.Timeout | undefined;
  private retrying = false;
  private closed = false;

  /** `retryMs`: how often the outcomes are tried again (and their leases renewed). */
  constructor(
    private readonly port: ParkedOutcomesPort,
    private readonly retryMs: number,
  ) {}

  /** How many outcomes wait for the store. */
  get size(): number {
    return this.held.size;
  }

  /** Keeps `outcome`, whose commit found the store unreachable, and tries it again later. */
  park(outcome: ParkedOutcome): void {
    if (this.closed) return;
    const leaseId = ('result' in outcome ? outcome.result.lease_id : outcome.failure.lease_id) ?? '';
    this.held.set(leaseId, outcome);
    this.port.renew([leaseId]);
    if (this.timer === undefined) {
      this.timer = setInterval(() => void this.retry(), this.retryMs);
      this.timer.unref();
    }
  }

  /** Tries the outcomes in order; stops at the first the store still cannot take. */
  private async retry(): Promise<void> {
    if (this.retrying) return;
    this.retrying = true;
    try {
      this.port.renew([...this.held.keys()]);
      for (const [leaseId, outcome] of this.held) {
        let ack: ResultAck;
        try {
          ack = await this.port.handle(outcome);
        } catch (err) {
          if (storeUnavailable(err)) return;
          this.close();
          this.port.failed(err);
          return;
        }
        if (this.closed) return;
        this.held.delete(leaseId);
        this.port.ack(ack);
      }
      this.stopTimer();
    } finally {
      this.retrying = false;
    }
  }

  /** The connection closed: what is parked is dropped (the tab sends it again when it is back). */
  close(): void {
    this.closed = true;
    this.held.clear();
    this.stopTimer();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
