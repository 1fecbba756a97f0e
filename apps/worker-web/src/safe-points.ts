// How a running job learns that it should stop, and what it may still do: the executor calls
// `check()` at every safe point (each WASI call, each WGSL chunk). From the first check after a
// cancel or the job's deadline, the job is "stopping": a cooperating WASI program learns it from
// sched_yield (ECANCELED) and may still write its partial output and exit; past the cooperation
// window the next safe point throws StopSignal, which unwinds the run. A program that never
// reaches a safe point (a tight loop) is stopped by the main thread terminating the Worker.

import type { StopReason } from './job.ts';
import type { JobIo } from './job-io.ts';

/** How long a stopping job may still run before its next safe point throws, ms. */
export const COOPERATE_MS = 200;

/** Thrown at a safe point past the cooperation window: unwinds the program. */
export class StopSignal extends Error {
  constructor(readonly reason: StopReason) {
    super(`stopped: ${reason}`);
    this.name = 'StopSignal';
  }
}

export class SafePoints {
  /** Why the job is stopping, from the first safe point that saw the request; undefined while it runs on. */
  reason: StopReason | undefined;
  private stoppingSince = 0;

  /** @param deadline performance.now() past which the job is stopping with TIMEOUT */
  constructor(
    private readonly io: Pick<JobIo, 'stopRequested'>,
    private readonly deadline: number,
  ) {}

  /** A safe point: notices a stop request, and unwinds once the cooperation window has passed. */
  check(): void {
    if (this.reason === undefined) {
      const now = performance.now();
      const reason = this.io.stopRequested() ?? (now > this.deadline ? 'TIMEOUT' : undefined);
      if (reason === undefined) return;
      this.reason = reason;
      this.stoppingSince = now;
      return;
    }
    if (performance.now() - this.stoppingSince > COOPERATE_MS) throw new StopSignal(this.reason);
  }
}
