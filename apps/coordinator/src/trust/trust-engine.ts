import { randomBytes } from 'node:crypto';
import type { ComputeEnvelope, VerificationPolicy } from '@flock/protocol';
import { DEFAULT_DEVICE_WEIGHTS, type DeviceClass } from './adapter-class.ts';
import { type EngineContext, taskOf, type WorkerRef } from './engine-context.ts';
import type { KnownAnswerSource } from './known-answers.ts';
import { reverifyTask, submitReplica, type Verdict } from './quorum.ts';
import {
  assignReplica,
  openTask,
  refusal,
  releaseReplica,
  releaseRunning,
  speculateReplica,
  statusOf,
  type VerificationStatus,
} from './replicas.ts';
import type { ReplicaOutput } from './result-digest.ts';
import {
  type CheckVerdict,
  type IssuedCheck,
  issueSpotCheck,
  releaseAllChecks,
  releaseSpotCheck,
  shouldSpotCheck,
  submitSpotCheck,
} from './spot-checks.ts';
import { type StandingView, standingView } from './standing.ts';
import { TrustError } from './trust-error.ts';
import type { TrustStore } from './trust-store.ts';
import { DEFAULT_POLICY_DEFAULTS, type PolicyDefaults } from './verification-policy.ts';

export interface TrustEngineOptions {
  store: TrustStore;
  /** Spot checks need a source of known answers; without one none are issued. */
  knownAnswers?: KnownAnswerSource | undefined;
  /** Uniform [0, 1). Default: crypto random (workers must not predict the draws). Seed it in simulations. */
  random?: () => number;
  /** Epoch ms. Default Date.now. */
  now?: () => number;
  /** Consecutive valid results before a worker may be believed alone (default 10). */
  trustThreshold?: number;
  /** Probability that a dispatch to a vetted worker is a known-answer check (default 0.02). */
  spotCheckRate?: number;
  /** Known-answer checks a new worker must pass before it can complete a quorum (default 1). */
  probationChecks?: number;
  /** A quorum must contain a vetted worker (default true): fresh identities cannot outvote. */
  requireVetted?: boolean;
  deviceWeights?: Partial<Record<DeviceClass, number>>;
  /** Claimed compute time credited per result at most, ms (default 600 000). */
  maxCreditMs?: number;
  policyDefaults?: PolicyDefaults;
}

/** Uniform [0, 1) from the crypto RNG: draws a worker must not be able to predict. */
export function cryptoRandom(): number {
  return randomBytes(6).readUIntLE(0, 6) / 2 ** 48;
}

/**
 * The verification policy engine: replication and quorum per task, adaptive replication per
 * (worker, module hash, adapter class), known-answer spot checks, and credit.
 *
 * The coordinator drives it: `open` a task; ask `eligible` before leasing a replica to a worker
 * and call `assign` when it does; pass each replica's outputs to `submit` (or `release` when the
 * lease is lost) and act on the Verdict. Before leasing real work to a worker, `shouldSpotCheck`
 * says whether to send it a known-answer task from `issueSpotCheck` instead, judged by
 * `submitSpotCheck`. Calls are serialised internally, so concurrent results cannot race.
 *
 * This class is the front: each role lives in its own module (`replicas.ts`, `quorum.ts`,
 * `believe-alone.ts`, `spot-checks.ts`, `standing.ts`), all on the shared `EngineContext`.
 */
export class TrustEngine {
  private readonly ctx: EngineContext;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(options: TrustEngineOptions) {
    this.ctx = {
      store: options.store,
      knownAnswers: options.knownAnswers,
      random: options.random ?? cryptoRandom,
      now: options.now ?? Date.now,
      threshold: options.trustThreshold ?? 10,
      spotCheckRate: options.spotCheckRate ?? 0.02,
      probationChecks: options.probationChecks ?? 1,
      requireVetted: options.requireVetted ?? true,
      weights: { ...DEFAULT_DEVICE_WEIGHTS, ...options.deviceWeights },
      maxCreditMs: options.maxCreditMs ?? 600_000,
      policyDefaults: options.policyDefaults ?? DEFAULT_POLICY_DEFAULTS,
    };
    const { threshold, spotCheckRate, probationChecks } = this.ctx;
    if (threshold < 1 || spotCheckRate < 0 || spotCheckRate > 1 || probationChecks < 0) {
      throw new TrustError(
        'INVALID_POLICY',
        'trustThreshold ≥ 1, spotCheckRate in [0, 1], probationChecks ≥ 0',
      );
    }
  }

  /** Runs `fn` after every earlier call has finished: one read-modify-write at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Starts verifying a task (idempotent on `taskId`); throws INVALID_POLICY for a bad policy.
   * `moduleHash` is the reputation key of its module (`moduleKeyOf(envelope)`).
   */
  open(
    taskId: string,
    task: { verification?: VerificationPolicy | undefined; moduleHash: string },
  ): Promise<VerificationStatus> {
    return this.serial(() => openTask(this.ctx, taskId, task));
  }

  /** The task's verification state; throws UNKNOWN_TASK. */
  status(taskId: string): Promise<VerificationStatus> {
    return this.serial(async () => statusOf(await taskOf(this.ctx, taskId)));
  }

  /** Drops a task's verification record (after the coordinator has purged or cancelled it). */
  forget(taskId: string): Promise<void> {
    return this.serial(() => this.ctx.store.deleteTask(taskId));
  }

  /**
   * Whether `worker` may run another replica of the task now: the task still wants one, the worker
   * holds none, is not quarantined, matches a homogeneous task's adapter class, and is vetted when
   * the task needs a vetted worker to complete its quorum.
   */
  eligible(taskId: string, worker: WorkerRef): Promise<boolean> {
    return this.serial(async () => {
      const t = await taskOf(this.ctx, taskId);
      return (await refusal(this.ctx, t, worker)) === undefined;
    });
  }

  /**
   * Records that a replica was leased to `worker`; throws NOT_ELIGIBLE when `eligible` would say
   * no. In adaptive mode the first replica decides whether the task runs once (a trusted worker,
   * believed with probability 1 − 1/n after n ≥ threshold consecutive valid results) or needs a
   * quorum: `wanted` is how many more replicas to dispatch now.
   */
  assign(taskId: string, worker: WorkerRef): Promise<{ alone: boolean; wanted: number }> {
    return this.serial(() => assignReplica(this.ctx, taskId, worker));
  }

  /**
   * A replica's result. Throws NOT_ASSIGNED when the worker has no running replica of the task,
   * OUTPUT_MISSING / NOT_F32 when its outputs cannot be compared (release it instead).
   * `claimedMs` is the compute time the worker reports; credit uses the quorum's smallest claim.
   */
  submit(
    taskId: string,
    workerId: string,
    outputs: readonly ReplicaOutput[],
    claim: { claimedMs?: number | undefined } = {},
  ): Promise<Verdict> {
    return this.serial(() => submitReplica(this.ctx, taskId, workerId, outputs, claim.claimedMs));
  }

  /** A replica's lease ended without a usable result (expired, failed, cancelled). */
  release(taskId: string, workerId: string): Promise<{ wanted: number }> {
    return this.serial(() => releaseReplica(this.ctx, taskId, workerId));
  }

  /**
   * Asks for one replica more than the policy wants now, beside a straggling one (batch tails):
   * it runs on another eligible worker and counts toward the quorum like any replica; whichever
   * results reach the quorum first decide, and the rest are surplus. False (nothing changes) when
   * the task is decided, wants a replica already, has none running, runs one believed alone, or
   * has dispatched `max_replicas`.
   */
  speculate(taskId: string): Promise<boolean> {
    return this.serial(() => speculateReplica(this.ctx, taskId));
  }

  /** Releases every running replica of the task (their leases died with a restart); returns how many. */
  releaseRunning(taskId: string): Promise<number> {
    return this.serial(() => releaseRunning(this.ctx, taskId));
  }

  /**
   * Re-examines an accepted task after workers that vouched for it were quarantined: their results
   * are dropped, and if the rest of the canonical group no longer makes a quorum (with a vetted
   * member), the task reopens and needs agreeing results from others; no replica of it is then
   * believed alone. A task whose canonical group still holds stays accepted.
   */
  reverify(taskId: string): Promise<VerificationStatus> {
    return this.serial(() => reverifyTask(this.ctx, taskId));
  }

  /**
   * Whether the next dispatch to `worker` should be a known-answer check: always while it is on
   * probation (fewer than `probationChecks` passed), else with probability `spotCheckRate`.
   * Never while one is in flight, for a quarantined worker, or without a known-answer source.
   */
  shouldSpotCheck(worker: WorkerRef): Promise<boolean> {
    return this.serial(() => shouldSpotCheck(this.ctx, worker));
  }

  /**
   * A known-answer task for `worker`, shaped like `template` (a real task it could be given)
   * when the source can; undefined when the source has none.
   */
  issueSpotCheck(worker: WorkerRef, template?: ComputeEnvelope): Promise<IssuedCheck | undefined> {
    return this.serial(() => issueSpotCheck(this.ctx, worker, template));
  }

  /**
   * Judges a spot check. Passed: the worker is vetted after `probationChecks` passes, its streak
   * grows, its pending credit is confirmed. Failed: the worker is quarantined, its streaks and
   * pending credit are gone, and `reverify` lists the tasks accepted on its word alone since its
   * last passed check. Throws UNKNOWN_CHECK, or NOT_ASSIGNED when another worker answers.
   */
  submitSpotCheck(
    checkId: string,
    workerId: string,
    outputs: readonly ReplicaOutput[],
    claim: { claimedMs?: number | undefined } = {},
  ): Promise<CheckVerdict> {
    return this.serial(() => submitSpotCheck(this.ctx, checkId, workerId, outputs, claim.claimedMs));
  }

  /** The check's lease ended without a result: the worker may get another. */
  releaseSpotCheck(checkId: string): Promise<void> {
    return this.serial(() => releaseSpotCheck(this.ctx, checkId));
  }

  /**
   * Forgets every check in flight (a restarted coordinator lost their leases), so those workers
   * can be checked again. Returns how many there were.
   */
  releaseAllChecks(): Promise<number> {
    return this.serial(() => releaseAllChecks(this.ctx));
  }

  /** A worker's standing; a worker never seen is new: unvetted, no credit. */
  standing(workerId: string): Promise<StandingView> {
    return this.serial(() => standingView(this.ctx, workerId));
  }
}
