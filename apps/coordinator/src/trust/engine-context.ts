// What every role of the trust engine shares: its store and settings, and the task record lookups.
import type { DeviceClass } from './adapter-class.ts';
import type { KnownAnswerSource } from './known-answers.ts';
import { TrustError } from './trust-error.ts';
import type { ReplicaRecord, TaskVerification, TrustStore } from './trust-store.ts';
import type { PolicyDefaults } from './verification-policy.ts';

/** The engine's store and its options with their defaults applied (`TrustEngine`'s constructor). */
export interface EngineContext {
  readonly store: TrustStore;
  readonly knownAnswers: KnownAnswerSource | undefined;
  readonly random: () => number;
  readonly now: () => number;
  /** Consecutive valid results before a worker may be believed alone. */
  readonly threshold: number;
  readonly spotCheckRate: number;
  readonly probationChecks: number;
  readonly requireVetted: boolean;
  readonly weights: Record<DeviceClass, number>;
  readonly maxCreditMs: number;
  readonly policyDefaults: PolicyDefaults;
}

/** A worker as the engine sees it: its identity and the adapter class the replica runs on. */
export interface WorkerRef {
  workerId: string;
  adapterClass: string;
}

/** The task's verification record; throws UNKNOWN_TASK. */
export async function taskOf(ctx: EngineContext, taskId: string): Promise<TaskVerification> {
  const t = await ctx.store.getTask(taskId);
  if (!t) throw new TrustError('UNKNOWN_TASK', `no verification is open for task ${taskId}`);
  return t;
}

/** A replica that counts towards the task: still running, or returned with a result. */
export function isActive(r: ReplicaRecord): boolean {
  return r.status === 'running' || r.status === 'returned';
}

/** Replicas the coordinator should dispatch now (0 once the task is decided). */
export function wantedOf(t: TaskVerification): number {
  if (t.state !== 'pending') return 0;
  return Math.max(0, t.target - t.replicas.filter(isActive).length);
}

/** The running replica of `workerId`; throws NOT_ASSIGNED when it holds none. */
export function runningReplica(t: TaskVerification, workerId: string): ReplicaRecord {
  const replica = t.replicas.find((r) => r.workerId === workerId && r.status === 'running');
  if (!replica) throw new TrustError('NOT_ASSIGNED', `${workerId} holds no running replica of ${t.taskId}`);
  return replica;
}
