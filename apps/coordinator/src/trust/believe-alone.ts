// Adaptive replication (as BOINC does it): in adaptive mode the first replica decides whether the
// task runs once, its worker believed alone, or needs a quorum. TRUST.md "Adaptive replication".
import { type EngineContext, isActive, type WorkerRef } from './engine-context.ts';
import { standingOf } from './standing.ts';
import type { TaskVerification } from './trust-store.ts';

/**
 * A vetted, unquarantined worker with n ≥ threshold consecutive valid results on this module and
 * adapter class is believed with probability 1 − 1/n (a draw it cannot predict).
 */
async function believedAlone(ctx: EngineContext, moduleHash: string, worker: WorkerRef): Promise<boolean> {
  const s = await standingOf(ctx, worker.workerId);
  if (!s.vetted || s.quarantined) return false;
  const rep = await ctx.store.getReputation(worker.workerId, moduleHash, worker.adapterClass);
  const n = rep?.consecutiveValid ?? 0;
  if (n < ctx.threshold) return false;
  return ctx.random() < 1 - 1 / n;
}

/**
 * Whether the replica about to be leased to `worker` runs alone: only the first replica of an
 * adaptive task that may be believed alone decides; when it is not believed, the task's target
 * rises to its quorum.
 */
export async function decideAlone(
  ctx: EngineContext,
  t: TaskVerification,
  worker: WorkerRef,
): Promise<boolean> {
  if (t.policy.mode !== 'adaptive' || t.noAlone || t.target !== 1 || t.replicas.some(isActive)) return false;
  const alone = await believedAlone(ctx, t.moduleHash, worker);
  if (!alone) t.target = Math.max(t.target, t.policy.quorum);
  return alone;
}

/** After a release: when nothing of an adaptive pending task runs or ran, the next assignment decides afresh. */
export function decideAfresh(t: TaskVerification): void {
  if (t.state === 'pending' && !t.replicas.some(isActive) && t.policy.mode === 'adaptive' && !t.noAlone) {
    t.target = 1;
  }
}
