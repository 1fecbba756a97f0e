// Quorum decisions: grouping the replicas' results by agreement, accepting a canonical result once
// `quorum` agree (with a vetted member), asking for more replicas or failing, judging late results,
// and reopening an accepted task when workers that vouched for it are quarantined.
// TRUST.md "Policy" and "Spot checks" (reverify).
import { type EngineContext, isActive, runningReplica, taskOf, wantedOf } from './engine-context.ts';
import { statusOf, type VerificationStatus } from './replicas.ts';
import { digestOutputs, type ReplicaOutput, type ResultDigest, sameResult } from './result-digest.ts';
import { creditAlone, creditMs, judge, standingOf } from './standing.ts';
import type { AcceptedBy, ReplicaRecord, TaskVerification, WorkerStanding } from './trust-store.ts';

/** What the coordinator should do after a result. */
export type Verdict =
  /** Keep going: dispatch `wanted` more replicas now (0: wait for the running ones). */
  | { kind: 'pending'; wanted: number }
  /**
   * `canonicalWorker`'s result is the task's result. `valid`/`invalid`: workers whose results
   * agreed/disagreed; `surplus`: replicas still running that can be cancelled.
   */
  | {
      kind: 'accepted';
      by: AcceptedBy;
      canonicalWorker: string;
      digest: string;
      valid: string[];
      invalid: string[];
      surplus: string[];
    }
  /** No quorum within max_replicas: fail the task with `code`. */
  | { kind: 'failed'; code: 'VERIFICATION_FAILED'; message: string; surplus: string[] }
  /** A result after the decision, judged against the canonical one (`unjudged` after a failure). */
  | { kind: 'late'; verdict: 'valid' | 'invalid' | 'unjudged' }
  /** The worker is quarantined: its result counts for nothing. */
  | { kind: 'discarded'; wanted: number };

/** `TrustEngine.submit`: a replica's result, grouped with those it agrees with, and what follows. */
export async function submitReplica(
  ctx: EngineContext,
  taskId: string,
  workerId: string,
  outputs: readonly ReplicaOutput[],
  claimedMs: number | undefined,
): Promise<Verdict> {
  const t = await taskOf(ctx, taskId);
  const replica = runningReplica(t, workerId);
  const digest = digestOutputs(outputs, t.policy);
  replica.claimedMs = claimedMs;
  const standing = await standingOf(ctx, workerId);
  if (standing.quarantined) {
    replica.status = 'discarded';
    await ctx.store.putTask(t);
    return { kind: 'discarded', wanted: t.state === 'pending' ? wantedOf(t) : 0 };
  }
  replica.status = 'returned';
  if (t.state !== 'pending') {
    const verdict = await judgeLate(ctx, t, replica, digest, claimedMs);
    await ctx.store.putTask(t);
    return { kind: 'late', verdict };
  }

  let group = t.groups.findIndex((g) => sameResult(g.digest, digest, t.policy));
  if (group < 0) group = t.groups.push({ digest, members: [] }) - 1;
  t.groups[group]!.members.push(workerId);
  replica.group = group;

  // Believed alone: a trusted worker in adaptive mode, or a policy with quorum 1. A lone
  // result validates nothing: its credit stays pending and its worker's streak stays put.
  let verdict: Verdict;
  if (replica.alone || t.policy.quorum === 1) {
    verdict = await accept(ctx, t, group, replica.alone ? 'trusted' : 'single');
    await creditAlone(ctx, t, replica, standing, claimedMs);
  } else {
    verdict = await decide(ctx, t);
  }
  await ctx.store.putTask(t);
  return verdict;
}

/** A result after the decision: judged against the canonical result, `unjudged` after a failure. */
async function judgeLate(
  ctx: EngineContext,
  t: TaskVerification,
  replica: ReplicaRecord,
  digest: ResultDigest,
  claimedMs: number | undefined,
): Promise<'valid' | 'invalid' | 'unjudged'> {
  if (t.state !== 'accepted') return 'unjudged';
  const canonical = t.groups[t.canonicalGroup!]!;
  const verdict = sameResult(canonical.digest, digest, t.policy) ? 'valid' : 'invalid';
  if (verdict === 'valid') canonical.members.push(replica.workerId);
  // Credited no more than the quorum it agrees with claimed.
  const quorumClaims = t.replicas
    .filter((r) => r !== replica && r.status === 'returned' && r.group === t.canonicalGroup)
    .map((r) => creditMs(ctx, r.claimedMs));
  const claimMs = Math.min(creditMs(ctx, claimedMs), ...quorumClaims);
  await judge(ctx, t, replica, verdict === 'valid', claimMs);
  return verdict;
}

/** The standings of the workers whose results are returned, by worker id. */
async function returnedStandings(
  ctx: EngineContext,
  t: TaskVerification,
): Promise<Map<string, WorkerStanding>> {
  const standings = new Map<string, WorkerStanding>();
  for (const r of t.replicas) {
    if (r.status === 'returned') standings.set(r.workerId, await standingOf(ctx, r.workerId));
  }
  return standings;
}

/** Looks for a quorum among the returned replicas; else asks for more or fails. */
async function decide(ctx: EngineContext, t: TaskVerification): Promise<Verdict> {
  const standings = await returnedStandings(ctx, t);
  // Results of workers quarantined since they returned count for nothing.
  for (const r of t.replicas) {
    if (r.status === 'returned' && standings.get(r.workerId)!.quarantined) {
      r.status = 'discarded';
      const g = t.groups[r.group!]!;
      g.members = g.members.filter((m) => m !== r.workerId);
    }
  }
  const { quorum, maxReplicas } = t.policy;
  let largest = 0;
  t.needsVetted = false;
  for (let i = 0; i < t.groups.length; i++) {
    const members = t.groups[i]!.members;
    largest = Math.max(largest, members.length);
    if (members.length < quorum) continue;
    if (!ctx.requireVetted || members.some((m) => standings.get(m)?.vetted)) {
      return accept(ctx, t, i, 'quorum');
    }
    t.needsVetted = true;
  }
  if (t.replicas.some((r) => r.status === 'running')) return { kind: 'pending', wanted: wantedOf(t) };
  const active = t.replicas.filter(isActive).length;
  const need = t.needsVetted ? 1 : Math.max(1, quorum - largest);
  const dispatched = t.replicas.filter((r) => r.status !== 'released').length;
  if (dispatched + need > maxReplicas) {
    t.state = 'failed';
    t.decidedAtMs = ctx.now();
    return {
      kind: 'failed',
      code: 'VERIFICATION_FAILED',
      message: `no ${quorum} of ${dispatched} results agree (largest agreeing group ${largest}, max_replicas ${maxReplicas})`,
      surplus: [],
    };
  }
  t.target = active + need;
  return { kind: 'pending', wanted: wantedOf(t) };
}

/** Makes group `group` canonical: reputation and credit for agreeing and disagreeing replicas. */
async function accept(
  ctx: EngineContext,
  t: TaskVerification,
  group: number,
  by: AcceptedBy,
): Promise<Verdict> {
  const g = t.groups[group]!;
  t.state = 'accepted';
  t.acceptedBy = by;
  t.canonicalGroup = group;
  t.canonicalWorker = g.members[0]!;
  t.decidedAtMs = ctx.now();
  const valid: string[] = [];
  const invalid: string[] = [];
  if (by === 'quorum') {
    const agreeing = t.replicas.filter((r) => r.status === 'returned' && r.group === group);
    // Everyone in the quorum is credited the smallest claim: inflating one's time earns nothing.
    const claimMs = Math.min(...agreeing.map((r) => creditMs(ctx, r.claimedMs)));
    for (const r of t.replicas) {
      if (r.status !== 'returned') continue;
      const ok = r.group === group;
      (ok ? valid : invalid).push(r.workerId);
      // A reopened task keeps the verdicts given at its first acceptance.
      if (r.verdict === undefined) await judge(ctx, t, r, ok, claimMs);
      if (ok) await ctx.store.addUnconfirmed(r.workerId, { taskId: t.taskId, credit: 0 });
    }
  } else {
    valid.push(t.canonicalWorker);
  }
  const surplus = t.replicas.filter((r) => r.status === 'running').map((r) => r.workerId);
  return {
    kind: 'accepted',
    by,
    canonicalWorker: t.canonicalWorker,
    digest: g.digest.hash,
    valid,
    invalid,
    surplus,
  };
}

/**
 * `TrustEngine.reverify`: drops the results of quarantined workers from an accepted task and
 * reopens it when its canonical group no longer makes a quorum with a vetted member.
 */
export async function reverifyTask(ctx: EngineContext, taskId: string): Promise<VerificationStatus> {
  const t = await taskOf(ctx, taskId);
  if (t.state !== 'accepted') return statusOf(t);
  const standings = await returnedStandings(ctx, t);
  const good = (id: string) => standings.get(id)?.quarantined === false;
  const remaining = t.groups[t.canonicalGroup!]!.members.filter(good);
  const { quorum } = t.policy;
  const holds =
    t.acceptedBy === 'quorum'
      ? remaining.length >= quorum && (!ctx.requireVetted || remaining.some((m) => standings.get(m)!.vetted))
      : remaining.length >= 1;
  if (holds) return statusOf(t);
  for (const r of t.replicas) {
    if (r.status === 'returned' && !good(r.workerId)) r.status = 'discarded';
  }
  for (const g of t.groups) g.members = g.members.filter(good);
  t.state = 'pending';
  t.acceptedBy = undefined;
  t.canonicalGroup = undefined;
  t.canonicalWorker = undefined;
  t.decidedAtMs = undefined;
  t.noAlone = true;
  const largest = Math.max(0, ...t.groups.map((g) => g.members.length));
  const needed = Math.max(1, quorum - largest);
  t.target = t.replicas.filter(isActive).length + needed;
  await ctx.store.putTask(t);
  return statusOf(t);
}
