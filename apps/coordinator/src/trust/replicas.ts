// Replicas of a task: opening its verification, who may run the next replica, leasing and releasing
// them, and the status a requester sees. TRUST.md "Policy" and "In the coordinator".
import type { VerificationPolicy } from '@flock/protocol';
import { decideAfresh, decideAlone } from './believe-alone.ts';
import {
  type EngineContext,
  isActive,
  runningReplica,
  taskOf,
  type WorkerRef,
  wantedOf,
} from './engine-context.ts';
import { standingOf } from './standing.ts';
import { TrustError } from './trust-error.ts';
import type { AcceptedBy, TaskVerification, VerificationState } from './trust-store.ts';
import { type ResolvedPolicy, resolvePolicy } from './verification-policy.ts';

/** The verification state of a task as a requester sees it. */
export interface VerificationStatus {
  taskId: string;
  state: VerificationState;
  mode: ResolvedPolicy['mode'];
  quorum: number;
  maxReplicas: number;
  dispatched: number;
  running: number;
  returned: number;
  /** Size of the largest group of agreeing results. */
  agreeing: number;
  acceptedBy: AcceptedBy | undefined;
  /** Replicas the coordinator should dispatch now. */
  wanted: number;
  /** The next replica must come from a vetted worker (agreeing unvetted ones cannot decide). */
  needsVetted: boolean;
  /** Homogeneous tasks: the adapter class every replica must run on, once the first was leased. */
  adapterLock: string | undefined;
  /** Workers that ran or run a replica (released ones excluded): none of them may run another. */
  workers: string[];
}

export function statusOf(t: TaskVerification): VerificationStatus {
  return {
    taskId: t.taskId,
    state: t.state,
    mode: t.policy.mode,
    quorum: t.policy.quorum,
    maxReplicas: t.policy.maxReplicas,
    dispatched: t.replicas.filter((r) => r.status !== 'released').length,
    running: t.replicas.filter((r) => r.status === 'running').length,
    returned: t.replicas.filter((r) => r.status === 'returned').length,
    agreeing: Math.max(0, ...t.groups.map((g) => g.members.length)),
    acceptedBy: t.acceptedBy,
    wanted: wantedOf(t),
    needsVetted: t.needsVetted,
    adapterLock: t.adapterLock,
    workers: [...new Set(t.replicas.filter((r) => r.status !== 'released').map((r) => r.workerId))],
  };
}

/** `TrustEngine.open`: a new verification record with the resolved policy (idempotent on `taskId`). */
export async function openTask(
  ctx: EngineContext,
  taskId: string,
  task: { verification?: VerificationPolicy | undefined; moduleHash: string },
): Promise<VerificationStatus> {
  const existing = await ctx.store.getTask(taskId);
  if (existing) return statusOf(existing);
  const policy = resolvePolicy(task.verification, ctx.policyDefaults);
  const t: TaskVerification = {
    taskId,
    moduleHash: task.moduleHash,
    policy,
    target: policy.replicas,
    adapterLock: undefined,
    needsVetted: false,
    noAlone: false,
    replicas: [],
    groups: [],
    state: 'pending',
    acceptedBy: undefined,
    canonicalGroup: undefined,
    canonicalWorker: undefined,
    openedAtMs: ctx.now(),
    decidedAtMs: undefined,
  };
  await ctx.store.putTask(t);
  return statusOf(t);
}

/** Why `worker` may not run another replica of the task now; undefined when it may. */
export async function refusal(
  ctx: EngineContext,
  t: TaskVerification,
  worker: WorkerRef,
): Promise<string | undefined> {
  if (t.state !== 'pending') return `the task is ${t.state}`;
  if (wantedOf(t) === 0) return 'the task wants no more replicas now';
  if (t.replicas.some((r) => r.workerId === worker.workerId && r.status !== 'released')) {
    return 'it already ran a replica';
  }
  if (t.adapterLock !== undefined && t.adapterLock !== worker.adapterClass) {
    return `homogeneous task runs on ${t.adapterLock} only`;
  }
  const s = await standingOf(ctx, worker.workerId);
  if (s.quarantined) return 'the worker is quarantined';
  if (t.needsVetted && !s.vetted) return 'the quorum needs a vetted worker';
  return undefined;
}

/** `TrustEngine.assign`: records a replica leased to `worker`; throws NOT_ELIGIBLE. */
export async function assignReplica(
  ctx: EngineContext,
  taskId: string,
  worker: WorkerRef,
): Promise<{ alone: boolean; wanted: number }> {
  const t = await taskOf(ctx, taskId);
  const why = await refusal(ctx, t, worker);
  if (why !== undefined)
    throw new TrustError('NOT_ELIGIBLE', `${worker.workerId} may not run ${taskId}: ${why}`);
  const alone = await decideAlone(ctx, t, worker);
  if (t.policy.homogeneous) t.adapterLock ??= worker.adapterClass;
  t.replicas.push({
    workerId: worker.workerId,
    adapterClass: worker.adapterClass,
    status: 'running',
    alone,
    group: undefined,
    claimedMs: undefined,
    verdict: undefined,
  });
  await ctx.store.putTask(t);
  return { alone, wanted: wantedOf(t) };
}

/**
 * `TrustEngine.speculate`: one more replica beside those running (a straggler's speculative copy
 * at its campaign's tail), which counts like any other. False when the task is decided, already
 * wants a replica, has none running, runs one believed alone, or has dispatched `max_replicas`.
 */
export async function speculateReplica(ctx: EngineContext, taskId: string): Promise<boolean> {
  const t = await taskOf(ctx, taskId);
  const running = t.replicas.filter((r) => r.status === 'running');
  if (t.state !== 'pending' || wantedOf(t) > 0 || running.length === 0 || running.some((r) => r.alone))
    return false;
  const dispatched = t.replicas.filter((r) => r.status !== 'released').length;
  if (dispatched >= t.policy.maxReplicas) return false;
  t.target = t.replicas.filter(isActive).length + 1;
  await ctx.store.putTask(t);
  return true;
}

/** `TrustEngine.release`: a replica's lease ended without a usable result. */
export async function releaseReplica(
  ctx: EngineContext,
  taskId: string,
  workerId: string,
): Promise<{ wanted: number }> {
  const t = await taskOf(ctx, taskId);
  runningReplica(t, workerId).status = 'released';
  decideAfresh(t); // nothing ran: the next assignment decides afresh
  await ctx.store.putTask(t);
  return { wanted: t.state === 'pending' ? wantedOf(t) : 0 };
}

/** `TrustEngine.releaseRunning`: releases every running replica; returns how many. */
export async function releaseRunning(ctx: EngineContext, taskId: string): Promise<number> {
  const t = await taskOf(ctx, taskId);
  const running = t.replicas.filter((r) => r.status === 'running');
  for (const r of running) r.status = 'released';
  decideAfresh(t);
  if (running.length > 0) await ctx.store.putTask(t);
  return running.length;
}
