// Credit and standing: what each worker has earned, per (worker, module hash, adapter class)
// reputation and per-worker standing (vetted, quarantined, credit), and how results and checks
// change them. TRUST.md "Credit" and "Spot checks".
import { deviceClassOf } from './adapter-class.ts';
import type { EngineContext } from './engine-context.ts';
import type { ReplicaRecord, Reputation, TaskVerification, WorkerStanding } from './trust-store.ts';

/** A worker's standing as `/v1/workers` shows it. */
export interface StandingView {
  workerId: string;
  vetted: boolean;
  quarantined: boolean;
  credit: number;
  pendingCredit: number;
  validResults: number;
  invalidResults: number;
  checksPassed: number;
  checksFailed: number;
  /** Keys (module, adapter class) on which the worker may be believed alone, with its streak. */
  trusted: { moduleHash: string; adapterClass: string; consecutiveValid: number }[];
}

function newStanding(workerId: string, nowMs: number): WorkerStanding {
  return {
    workerId,
    firstSeenMs: nowMs,
    vetted: false,
    quarantined: false,
    quarantinedAtMs: undefined,
    checksPassed: 0,
    checksFailed: 0,
    validResults: 0,
    invalidResults: 0,
    credit: 0,
    pendingCredit: 0,
    suspect: false,
    checkInFlight: undefined,
  };
}

/** The worker's standing; a worker never seen is new: unvetted, no credit. */
export async function standingOf(ctx: EngineContext, workerId: string): Promise<WorkerStanding> {
  return (await ctx.store.getStanding(workerId)) ?? newStanding(workerId, ctx.now());
}

/** The worker's reputation on one module and adapter class; a fresh one (streak 0) if none. */
export async function reputationOf(
  ctx: EngineContext,
  workerId: string,
  moduleHash: string,
  adapterClass: string,
): Promise<Reputation> {
  return (
    (await ctx.store.getReputation(workerId, moduleHash, adapterClass)) ?? {
      workerId,
      moduleHash,
      adapterClass,
      consecutiveValid: 0,
      valid: 0,
      invalid: 0,
      acceptedAlone: 0,
      updatedAtMs: ctx.now(),
    }
  );
}

/** The claimed compute time that may be credited: finite, positive, at most `maxCreditMs`. */
export function creditMs(ctx: EngineContext, claimedMs: number | undefined): number {
  const ms = claimedMs ?? 0;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, ctx.maxCreditMs) : 0;
}

/** Device-weighted compute seconds for `ms` on `adapterClass`. */
export function credit(ctx: EngineContext, adapterClass: string, ms: number): number {
  return (ms / 1000) * ctx.weights[deviceClassOf(adapterClass)];
}

/** Records a validated (or invalid) result of a replica: streak, counts and credit. */
export async function judge(
  ctx: EngineContext,
  t: TaskVerification,
  r: ReplicaRecord,
  ok: boolean,
  claimMs: number,
): Promise<void> {
  r.verdict = ok ? 'valid' : 'invalid';
  const rep = await reputationOf(ctx, r.workerId, t.moduleHash, r.adapterClass);
  const s = await standingOf(ctx, r.workerId);
  if (ok) {
    rep.consecutiveValid++;
    rep.valid++;
    s.validResults++;
    s.credit += credit(ctx, r.adapterClass, claimMs);
  } else {
    rep.consecutiveValid = 0;
    rep.invalid++;
    s.invalidResults++;
    s.suspect = true;
  }
  rep.updatedAtMs = ctx.now();
  await ctx.store.putReputation(rep);
  await ctx.store.putStanding(s);
}

/**
 * A result believed alone validates nothing: its credit stays pending (confirmed by the worker's
 * next passed check) and the streak stays put; only `acceptedAlone` counts it.
 */
export async function creditAlone(
  ctx: EngineContext,
  t: TaskVerification,
  replica: ReplicaRecord,
  standing: WorkerStanding,
  claimedMs: number | undefined,
): Promise<void> {
  const pending = credit(ctx, replica.adapterClass, creditMs(ctx, claimedMs));
  standing.pendingCredit += pending;
  await ctx.store.addUnconfirmed(replica.workerId, { taskId: t.taskId, credit: pending });
  await ctx.store.putStanding(standing);
  const rep = await reputationOf(ctx, replica.workerId, t.moduleHash, replica.adapterClass);
  rep.acceptedAlone++;
  rep.updatedAtMs = ctx.now();
  await ctx.store.putReputation(rep);
}

/** A passed check: vetted after `probationChecks` passes, the streak grows, pending credit is confirmed. */
export async function recordPassedCheck(
  ctx: EngineContext,
  s: WorkerStanding,
  rep: Reputation,
  adapterClass: string,
  claimedMs: number | undefined,
): Promise<void> {
  s.checksPassed++;
  s.vetted = s.checksPassed >= ctx.probationChecks;
  s.validResults++;
  s.credit += s.pendingCredit + credit(ctx, adapterClass, creditMs(ctx, claimedMs));
  s.pendingCredit = 0;
  await ctx.store.clearUnconfirmed(s.workerId);
  s.suspect = false;
  rep.consecutiveValid++;
  rep.valid++;
}

/**
 * A failed check is proof: the worker is quarantined, every streak and its pending credit are
 * gone. Returns the tasks it vouched for since its last passed check.
 */
export async function quarantine(ctx: EngineContext, s: WorkerStanding, rep: Reputation): Promise<string[]> {
  s.checksFailed++;
  s.invalidResults++;
  s.quarantined = true;
  s.quarantinedAtMs = ctx.now();
  s.vetted = false;
  s.pendingCredit = 0;
  const reverify = [...new Set((await ctx.store.listUnconfirmed(s.workerId)).map((u) => u.taskId))];
  await ctx.store.clearUnconfirmed(s.workerId);
  rep.consecutiveValid = 0;
  rep.invalid++;
  for (const other of await ctx.store.listReputations(s.workerId)) {
    if (other.moduleHash === rep.moduleHash && other.adapterClass === rep.adapterClass) continue;
    other.consecutiveValid = 0;
    other.updatedAtMs = ctx.now();
    await ctx.store.putReputation(other);
  }
  return reverify;
}

/** The worker's standing as `/v1/workers` and the volunteer page show it. */
export async function standingView(ctx: EngineContext, workerId: string): Promise<StandingView> {
  const s = await standingOf(ctx, workerId);
  const trusted = (await ctx.store.listReputations(workerId))
    .filter((r) => r.consecutiveValid >= ctx.threshold && s.vetted && !s.quarantined)
    .map((r) => ({
      moduleHash: r.moduleHash,
      adapterClass: r.adapterClass,
      consecutiveValid: r.consecutiveValid,
    }));
  return {
    workerId,
    vetted: s.vetted,
    quarantined: s.quarantined,
    credit: s.credit,
    pendingCredit: s.pendingCredit,
    validResults: s.validResults,
    invalidResults: s.invalidResults,
    checksPassed: s.checksPassed,
    checksFailed: s.checksFailed,
    trusted,
  };
}
