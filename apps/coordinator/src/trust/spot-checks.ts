// Spot checks (known answers): when a worker gets one instead of real work, issuing it from the
// known-answer source, judging its outputs, and releasing checks whose lease ended without a
// result. TRUST.md "Spot checks".
import { randomBytes } from 'node:crypto';
import type { ComputeEnvelope } from '@flock/protocol';
import type { EngineContext, WorkerRef } from './engine-context.ts';
import type { ReplicaOutput } from './result-digest.ts';
import { quarantine, recordPassedCheck, reputationOf, standingOf } from './standing.ts';
import { TrustError } from './trust-error.ts';
import type { SpotCheckRecord } from './trust-store.ts';

export interface IssuedCheck {
  checkId: string;
  /** Dispatch this as if it were a real task. */
  envelope: ComputeEnvelope;
}

export interface CheckVerdict {
  passed: boolean;
  /** Tasks accepted on this worker's word alone since its last passed check: redo them. */
  reverify: string[];
}

/** `TrustEngine.shouldSpotCheck`: probation and suspects always, else with `spotCheckRate`. */
export async function shouldSpotCheck(ctx: EngineContext, worker: WorkerRef): Promise<boolean> {
  if (!ctx.knownAnswers) return false;
  const s = await standingOf(ctx, worker.workerId);
  if (s.quarantined || s.checkInFlight !== undefined) return false;
  if (s.checksPassed < ctx.probationChecks || s.suspect) return true;
  return ctx.random() < ctx.spotCheckRate;
}

/** `TrustEngine.issueSpotCheck`: a known-answer task for `worker`, remembered as in flight. */
export async function issueSpotCheck(
  ctx: EngineContext,
  worker: WorkerRef,
  template: ComputeEnvelope | undefined,
): Promise<IssuedCheck | undefined> {
  if (!ctx.knownAnswers) return undefined;
  const answer = await ctx.knownAnswers.make({
    workerId: worker.workerId,
    adapterClass: worker.adapterClass,
    template,
    random: ctx.random,
  });
  if (!answer) return undefined;
  // Its own id: the visible task id only looks like a real one and may repeat.
  const checkId = `check-${randomBytes(12).toString('hex')}`;
  await ctx.store.putCheck({
    checkId,
    workerId: worker.workerId,
    adapterClass: worker.adapterClass,
    answer,
    issuedAtMs: ctx.now(),
  });
  const s = await standingOf(ctx, worker.workerId);
  s.checkInFlight = checkId;
  await ctx.store.putStanding(s);
  return { checkId, envelope: answer.envelope };
}

async function checkInFlight(ctx: EngineContext, checkId: string): Promise<SpotCheckRecord> {
  const check = await ctx.store.getCheck(checkId);
  if (!check) throw new TrustError('UNKNOWN_CHECK', `no spot check ${checkId} is in flight`);
  return check;
}

/** `TrustEngine.submitSpotCheck`: judges the outputs; a pass vets, a failure quarantines. */
export async function submitSpotCheck(
  ctx: EngineContext,
  checkId: string,
  workerId: string,
  outputs: readonly ReplicaOutput[],
  claimedMs: number | undefined,
): Promise<CheckVerdict> {
  const check = await checkInFlight(ctx, checkId);
  if (check.workerId !== workerId)
    throw new TrustError('NOT_ASSIGNED', `spot check ${checkId} is not ${workerId}'s`);
  const passed = await ctx.knownAnswers!.check(check.answer, outputs);
  await ctx.store.deleteCheck(checkId);
  const s = await standingOf(ctx, workerId);
  if (s.checkInFlight === checkId) s.checkInFlight = undefined;
  const rep = await reputationOf(ctx, workerId, check.answer.moduleHash, check.adapterClass);
  rep.updatedAtMs = ctx.now();
  let reverify: string[] = [];
  if (passed) await recordPassedCheck(ctx, s, rep, check.adapterClass, claimedMs);
  else reverify = await quarantine(ctx, s, rep);
  await ctx.store.putReputation(rep);
  await ctx.store.putStanding(s);
  return { passed, reverify };
}

/** `TrustEngine.releaseSpotCheck`: the check's lease ended without a result. */
export async function releaseSpotCheck(ctx: EngineContext, checkId: string): Promise<void> {
  const check = await checkInFlight(ctx, checkId);
  await ctx.store.deleteCheck(checkId);
  const s = await standingOf(ctx, check.workerId);
  if (s.checkInFlight === checkId) {
    s.checkInFlight = undefined;
    await ctx.store.putStanding(s);
  }
}

/** `TrustEngine.releaseAllChecks`: forgets every check in flight; returns how many there were. */
export async function releaseAllChecks(ctx: EngineContext): Promise<number> {
  let released = 0;
  for (const s of await ctx.store.listStandings()) {
    if (s.checkInFlight === undefined) continue;
    await ctx.store.deleteCheck(s.checkInFlight);
    s.checkInFlight = undefined;
    await ctx.store.putStanding(s);
    released++;
  }
  return released;
}
