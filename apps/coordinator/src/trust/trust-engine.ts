import { randomBytes } from 'node:crypto';
import type { ComputeEnvelope, VerificationPolicy } from '@flock/protocol';
import { DEFAULT_DEVICE_WEIGHTS, type DeviceClass, deviceClassOf } from './adapter-class.ts';
import type { KnownAnswerSource } from './known-answers.ts';
import { digestOutputs, type ReplicaOutput, sameResult } from './result-digest.ts';
import { TrustError } from './trust-error.ts';
import type {
  AcceptedBy,
  ReplicaRecord,
  Reputation,
  TaskVerification,
  TrustStore,
  VerificationState,
  WorkerStanding,
} from './trust-store.ts';
import {
  DEFAULT_POLICY_DEFAULTS,
  type PolicyDefaults,
  type ResolvedPolicy,
  resolvePolicy,
} from './verification-policy.ts';

/** A worker as the engine sees it: its identity and the adapter class the replica runs on. */
export interface WorkerRef {
  workerId: string;
  adapterClass: string;
}

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

/** Uniform [0, 1) from the crypto RNG: draws a worker must not be able to predict. */
export function cryptoRandom(): number {
  return randomBytes(6).readUIntLE(0, 6) / 2 ** 48;
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

function isActive(r: ReplicaRecord): boolean {
  return r.status === 'running' || r.status === 'returned';
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
 */
export class TrustEngine {
  private readonly store: TrustStore;
  private readonly knownAnswers: KnownAnswerSource | undefined;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly threshold: number;
  private readonly spotCheckRate: number;
  private readonly probationChecks: number;
  private readonly requireVetted: boolean;
  private readonly weights: Record<DeviceClass, number>;
  private readonly maxCreditMs: number;
  private readonly policyDefaults: PolicyDefaults;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(options: TrustEngineOptions) {
    this.store = options.store;
    this.knownAnswers = options.knownAnswers;
    this.random = options.random ?? cryptoRandom;
    this.now = options.now ?? Date.now;
    this.threshold = options.trustThreshold ?? 10;
    this.spotCheckRate = options.spotCheckRate ?? 0.02;
    this.probationChecks = options.probationChecks ?? 1;
    this.requireVetted = options.requireVetted ?? true;
    this.weights = { ...DEFAULT_DEVICE_WEIGHTS, ...options.deviceWeights };
    this.maxCreditMs = options.maxCreditMs ?? 600_000;
    this.policyDefaults = options.policyDefaults ?? DEFAULT_POLICY_DEFAULTS;
    if (this.threshold < 1 || this.spotCheckRate < 0 || this.spotCheckRate > 1 || this.probationChecks < 0) {
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
    return this.serial(async () => {
      const existing = await this.store.getTask(taskId);
      if (existing) return this.statusOf(existing);
      const policy = resolvePolicy(task.verification, this.policyDefaults);
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
        openedAtMs: this.now(),
        decidedAtMs: undefined,
      };
      await this.store.putTask(t);
      return this.statusOf(t);
    });
  }

  /** The task's verification state; throws UNKNOWN_TASK. */
  status(taskId: string): Promise<VerificationStatus> {
    return this.serial(async () => this.statusOf(await this.task(taskId)));
  }

  /** Drops a task's verification record (after the coordinator has purged or cancelled it). */
  forget(taskId: string): Promise<void> {
    return this.serial(() => this.store.deleteTask(taskId));
  }

  /**
   * Whether `worker` may run another replica of the task now: the task still wants one, the worker
   * holds none, is not quarantined, matches a homogeneous task's adapter class, and is vetted when
   * the task needs a vetted worker to complete its quorum.
   */
  eligible(taskId: string, worker: WorkerRef): Promise<boolean> {
    return this.serial(async () => {
      const t = await this.task(taskId);
      return (await this.refusal(t, worker)) === undefined;
    });
  }

  /**
   * Records that a replica was leased to `worker`; throws NOT_ELIGIBLE when `eligible` would say
   * no. In adaptive mode the first replica decides whether the task runs once (a trusted worker,
   * believed with probability 1 − 1/n after n ≥ threshold consecutive valid results) or needs a
   * quorum: `wanted` is how many more replicas to dispatch now.
   */
  assign(taskId: string, worker: WorkerRef): Promise<{ alone: boolean; wanted: number }> {
    return this.serial(async () => {
      const t = await this.task(taskId);
      const why = await this.refusal(t, worker);
      if (why !== undefined)
        throw new TrustError('NOT_ELIGIBLE', `${worker.workerId} may not run ${taskId}: ${why}`);
      let alone = false;
      if (t.policy.mode === 'adaptive' && !t.noAlone && t.target === 1 && !t.replicas.some(isActive)) {
        alone = await this.believedAlone(t.moduleHash, worker);
        if (!alone) t.target = Math.max(t.target, t.policy.quorum);
      }
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
      await this.store.putTask(t);
      return { alone, wanted: this.wantedOf(t) };
    });
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
    return this.serial(async () => {
      const t = await this.task(taskId);
      const replica = t.replicas.find((r) => r.workerId === workerId && r.status === 'running');
      if (!replica) throw new TrustError('NOT_ASSIGNED', `${workerId} holds no running replica of ${taskId}`);
      const digest = digestOutputs(outputs, t.policy);
      replica.claimedMs = claim.claimedMs;
      const standing = await this.standingOf(workerId);
      if (standing.quarantined) {
        replica.status = 'discarded';
        await this.store.putTask(t);
        return { kind: 'discarded', wanted: t.state === 'pending' ? this.wantedOf(t) : 0 };
      }
      replica.status = 'returned';

      if (t.state !== 'pending') {
        let verdict: 'valid' | 'invalid' | 'unjudged' = 'unjudged';
        if (t.state === 'accepted') {
          const canonical = t.groups[t.canonicalGroup!]!;
          verdict = sameResult(canonical.digest, digest, t.policy) ? 'valid' : 'invalid';
          if (verdict === 'valid') canonical.members.push(workerId);
          // Credited no more than the quorum it agrees with claimed.
          const quorumClaims = t.replicas
            .filter((r) => r !== replica && r.status === 'returned' && r.group === t.canonicalGroup)
            .map((r) => this.creditMs(r.claimedMs));
          const claimMs = Math.min(this.creditMs(claim.claimedMs), ...quorumClaims);
          await this.judge(t, replica, verdict === 'valid', claimMs);
        }
        await this.store.putTask(t);
        return { kind: 'late', verdict };
      }

      let group = t.groups.findIndex((g) => sameResult(g.digest, digest, t.policy));
      if (group < 0) group = t.groups.push({ digest, members: [] }) - 1;
      t.groups[group]!.members.push(workerId);
      replica.group = group;

      // Believed alone: a trusted worker in adaptive mode, or a policy with quorum 1. A lone
      // result validates nothing: its credit stays pending and its worker's streak stays put.
      if (replica.alone || t.policy.quorum === 1) {
        const verdict = await this.accept(t, group, replica.alone ? 'trusted' : 'single');
        const credit = this.credit(replica.adapterClass, this.creditMs(claim.claimedMs));
        standing.pendingCredit += credit;
        await this.store.addUnconfirmed(workerId, { taskId, credit });
        await this.store.putStanding(standing);
        const rep = await this.reputationOf(workerId, t.moduleHash, replica.adapterClass);
        rep.acceptedAlone++;
        rep.updatedAtMs = this.now();
        await this.store.putReputation(rep);
        await this.store.putTask(t);
        return verdict;
      }
      const verdict = await this.decide(t);
      await this.store.putTask(t);
      return verdict;
    });
  }

  /** A replica's lease ended without a usable result (expired, failed, cancelled). */
  release(taskId: string, workerId: string): Promise<{ wanted: number }> {
    return this.serial(async () => {
      const t = await this.task(taskId);
      const replica = t.replicas.find((r) => r.workerId === workerId && r.status === 'running');
      if (!replica) throw new TrustError('NOT_ASSIGNED', `${workerId} holds no running replica of ${taskId}`);
      replica.status = 'released';
      if (t.state === 'pending' && !t.replicas.some(isActive) && t.policy.mode === 'adaptive' && !t.noAlone) {
        t.target = 1; // nothing ran: the next assignment decides afresh
      }
      await this.store.putTask(t);
      return { wanted: t.state === 'pending' ? this.wantedOf(t) : 0 };
    });
  }

  /** Releases every running replica of the task (their leases died with a restart); returns how many. */
  releaseRunning(taskId: string): Promise<number> {
    return this.serial(async () => {
      const t = await this.task(taskId);
      const running = t.replicas.filter((r) => r.status === 'running');
      for (const r of running) r.status = 'released';
      if (t.state === 'pending' && !t.replicas.some(isActive) && t.policy.mode === 'adaptive' && !t.noAlone) {
        t.target = 1;
      }
      if (running.length > 0) await this.store.putTask(t);
      return running.length;
    });
  }

  /**
   * Re-examines an accepted task after workers that vouched for it were quarantined: their results
   * are dropped, and if the rest of the canonical group no longer makes a quorum (with a vetted
   * member), the task reopens and needs agreeing results from others; no replica of it is then
   * believed alone. A task whose canonical group still holds stays accepted.
   */
  reverify(taskId: string): Promise<VerificationStatus> {
    return this.serial(async () => {
      const t = await this.task(taskId);
      if (t.state !== 'accepted') return this.statusOf(t);
      const standings = new Map<string, WorkerStanding>();
      for (const r of t.replicas) {
        if (r.status === 'returned') standings.set(r.workerId, await this.standingOf(r.workerId));
      }
      const good = (id: string) => standings.get(id)?.quarantined === false;
      const remaining = t.groups[t.canonicalGroup!]!.members.filter(good);
      const { quorum } = t.policy;
      const holds =
        t.acceptedBy === 'quorum'
          ? remaining.length >= quorum &&
            (!this.requireVetted || remaining.some((m) => standings.get(m)!.vetted))
          : remaining.length >= 1;
      if (holds) return this.statusOf(t);
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
      await this.store.putTask(t);
      return this.statusOf(t);
    });
  }

  /**
   * Whether the next dispatch to `worker` should be a known-answer check: always while it is on
   * probation (fewer than `probationChecks` passed), else with probability `spotCheckRate`.
   * Never while one is in flight, for a quarantined worker, or without a known-answer source.
   */
  shouldSpotCheck(worker: WorkerRef): Promise<boolean> {
    return this.serial(async () => {
      if (!this.knownAnswers) return false;
      const s = await this.standingOf(worker.workerId);
      if (s.quarantined || s.checkInFlight !== undefined) return false;
      if (s.checksPassed < this.probationChecks || s.suspect) return true;
      return this.random() < this.spotCheckRate;
    });
  }

  /**
   * A known-answer task for `worker`, shaped like `template` (a real task it could be given)
   * when the source can; undefined when the source has none.
   */
  issueSpotCheck(worker: WorkerRef, template?: ComputeEnvelope): Promise<IssuedCheck | undefined> {
    return this.serial(async () => {
      if (!this.knownAnswers) return undefined;
      const answer = await this.knownAnswers.make({
        workerId: worker.workerId,
        adapterClass: worker.adapterClass,
        template,
        random: this.random,
      });
      if (!answer) return undefined;
      // Its own id: the visible task id only looks like a real one and may repeat.
      const checkId = `check-${randomBytes(12).toString('hex')}`;
      await this.store.putCheck({
        checkId,
        workerId: worker.workerId,
        adapterClass: worker.adapterClass,
        answer,
        issuedAtMs: this.now(),
      });
      const s = await this.standingOf(worker.workerId);
      s.checkInFlight = checkId;
      await this.store.putStanding(s);
      return { checkId, envelope: answer.envelope };
    });
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
    return this.serial(async () => {
      const check = await this.store.getCheck(checkId);
      if (!check) throw new TrustError('UNKNOWN_CHECK', `no spot check ${checkId} is in flight`);
      if (check.workerId !== workerId)
        throw new TrustError('NOT_ASSIGNED', `spot check ${checkId} is not ${workerId}'s`);
      const passed = this.knownAnswers!.check(check.answer, outputs);
      await this.store.deleteCheck(checkId);
      const s = await this.standingOf(workerId);
      if (s.checkInFlight === checkId) s.checkInFlight = undefined;
      const rep = await this.reputationOf(workerId, check.answer.moduleHash, check.adapterClass);
      rep.updatedAtMs = this.now();
      let reverify: string[] = [];
      if (passed) {
        s.checksPassed++;
        s.vetted = s.checksPassed >= this.probationChecks;
        s.validResults++;
        s.credit += s.pendingCredit + this.credit(check.adapterClass, this.creditMs(claim.claimedMs));
        s.pendingCredit = 0;
        await this.store.clearUnconfirmed(workerId);
        s.suspect = false;
        rep.consecutiveValid++;
        rep.valid++;
      } else {
        s.checksFailed++;
        s.invalidResults++;
        s.quarantined = true;
        s.quarantinedAtMs = this.now();
        s.vetted = false;
        s.pendingCredit = 0;
        reverify = [...new Set((await this.store.listUnconfirmed(workerId)).map((u) => u.taskId))];
        await this.store.clearUnconfirmed(workerId);
        rep.consecutiveValid = 0;
        rep.invalid++;
        for (const other of await this.store.listReputations(workerId)) {
          if (other.moduleHash === rep.moduleHash && other.adapterClass === rep.adapterClass) continue;
          other.consecutiveValid = 0;
          other.updatedAtMs = this.now();
          await this.store.putReputation(other);
        }
      }
      await this.store.putReputation(rep);
      await this.store.putStanding(s);
      return { passed, reverify };
    });
  }

  /** The check's lease ended without a result: the worker may get another. */
  releaseSpotCheck(checkId: string): Promise<void> {
    return this.serial(async () => {
      const check = await this.store.getCheck(checkId);
      if (!check) throw new TrustError('UNKNOWN_CHECK', `no spot check ${checkId} is in flight`);
      await this.store.deleteCheck(checkId);
      const s = await this.standingOf(check.workerId);
      if (s.checkInFlight === checkId) {
        s.checkInFlight = undefined;
        await this.store.putStanding(s);
      }
    });
  }

  /**
   * Forgets every check in flight (a restarted coordinator lost their leases), so those workers
   * can be checked again. Returns how many there were.
   */
  releaseAllChecks(): Promise<number> {
    return this.serial(async () => {
      let released = 0;
      for (const s of await this.store.listStandings()) {
        if (s.checkInFlight === undefined) continue;
        await this.store.deleteCheck(s.checkInFlight);
        s.checkInFlight = undefined;
        await this.store.putStanding(s);
        released++;
      }
      return released;
    });
  }

  /** A worker's standing; a worker never seen is new: unvetted, no credit. */
  standing(workerId: string): Promise<StandingView> {
    return this.serial(async () => {
      const s = await this.standingOf(workerId);
      const trusted = (await this.store.listReputations(workerId))
        .filter((r) => r.consecutiveValid >= this.threshold && s.vetted && !s.quarantined)
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
    });
  }

  private async task(taskId: string): Promise<TaskVerification> {
    const t = await this.store.getTask(taskId);
    if (!t) throw new TrustError('UNKNOWN_TASK', `no verification is open for task ${taskId}`);
    return t;
  }

  private async standingOf(workerId: string): Promise<WorkerStanding> {
    return (await this.store.getStanding(workerId)) ?? newStanding(workerId, this.now());
  }

  private async reputationOf(
    workerId: string,
    moduleHash: string,
    adapterClass: string,
  ): Promise<Reputation> {
    return (
      (await this.store.getReputation(workerId, moduleHash, adapterClass)) ?? {
        workerId,
        moduleHash,
        adapterClass,
        consecutiveValid: 0,
        valid: 0,
        invalid: 0,
        acceptedAlone: 0,
        updatedAtMs: this.now(),
      }
    );
  }

  private wantedOf(t: TaskVerification): number {
    if (t.state !== 'pending') return 0;
    return Math.max(0, t.target - t.replicas.filter(isActive).length);
  }

  private async refusal(t: TaskVerification, worker: WorkerRef): Promise<string | undefined> {
    if (t.state !== 'pending') return `the task is ${t.state}`;
    if (this.wantedOf(t) === 0) return 'the task wants no more replicas now';
    if (t.replicas.some((r) => r.workerId === worker.workerId && r.status !== 'released')) {
      return 'it already ran a replica';
    }
    if (t.adapterLock !== undefined && t.adapterLock !== worker.adapterClass) {
      return `homogeneous task runs on ${t.adapterLock} only`;
    }
    const s = await this.standingOf(worker.workerId);
    if (s.quarantined) return 'the worker is quarantined';
    if (t.needsVetted && !s.vetted) return 'the quorum needs a vetted worker';
    return undefined;
  }

  private async believedAlone(moduleHash: string, worker: WorkerRef): Promise<boolean> {
    const s = await this.standingOf(worker.workerId);
    if (!s.vetted || s.quarantined) return false;
    const rep = await this.store.getReputation(worker.workerId, moduleHash, worker.adapterClass);
    const n = rep?.consecutiveValid ?? 0;
    if (n < this.threshold) return false;
    return this.random() < 1 - 1 / n;
  }

  /** Looks for a quorum among the returned replicas; else asks for more or fails. */
  private async decide(t: TaskVerification): Promise<Verdict> {
    const standings = new Map<string, WorkerStanding>();
    for (const r of t.replicas) {
      if (r.status === 'returned') standings.set(r.workerId, await this.standingOf(r.workerId));
    }
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
      if (!this.requireVetted || members.some((m) => standings.get(m)?.vetted)) {
        return this.accept(t, i, 'quorum');
      }
      t.needsVetted = true;
    }
    if (t.replicas.some((r) => r.status === 'running')) return { kind: 'pending', wanted: this.wantedOf(t) };
    const active = t.replicas.filter(isActive).length;
    const need = t.needsVetted ? 1 : Math.max(1, quorum - largest);
    const dispatched = t.replicas.filter((r) => r.status !== 'released').length;
    if (dispatched + need > maxReplicas) {
      t.state = 'failed';
      t.decidedAtMs = this.now();
      return {
        kind: 'failed',
        code: 'VERIFICATION_FAILED',
        message: `no ${quorum} of ${dispatched} results agree (largest agreeing group ${largest}, max_replicas ${maxReplicas})`,
        surplus: [],
      };
    }
    t.target = active + need;
    return { kind: 'pending', wanted: this.wantedOf(t) };
  }

  /** Makes group `group` canonical: reputation and credit for agreeing and disagreeing replicas. */
  private async accept(t: TaskVerification, group: number, by: AcceptedBy): Promise<Verdict> {
    const g = t.groups[group]!;
    t.state = 'accepted';
    t.acceptedBy = by;
    t.canonicalGroup = group;
    t.canonicalWorker = g.members[0]!;
    t.decidedAtMs = this.now();
    const valid: string[] = [];
    const invalid: string[] = [];
    if (by === 'quorum') {
      const agreeing = t.replicas.filter((r) => r.status === 'returned' && r.group === group);
      // Everyone in the quorum is credited the smallest claim: inflating one's time earns nothing.
      const claimMs = Math.min(...agreeing.map((r) => this.creditMs(r.claimedMs)));
      for (const r of t.replicas) {
        if (r.status !== 'returned') continue;
        const ok = r.group === group;
        (ok ? valid : invalid).push(r.workerId);
        // A reopened task keeps the verdicts given at its first acceptance.
        if (r.verdict === undefined) await this.judge(t, r, ok, claimMs);
        if (ok) await this.store.addUnconfirmed(r.workerId, { taskId: t.taskId, credit: 0 });
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

  /** Records a validated (or invalid) result of a replica: streak, counts and credit. */
  private async judge(t: TaskVerification, r: ReplicaRecord, ok: boolean, claimMs: number): Promise<void> {
    r.verdict = ok ? 'valid' : 'invalid';
    const rep = await this.reputationOf(r.workerId, t.moduleHash, r.adapterClass);
    const s = await this.standingOf(r.workerId);
    if (ok) {
      rep.consecutiveValid++;
      rep.valid++;
      s.validResults++;
      s.credit += this.credit(r.adapterClass, claimMs);
    } else {
      rep.consecutiveValid = 0;
      rep.invalid++;
      s.invalidResults++;
      s.suspect = true;
    }
    rep.updatedAtMs = this.now();
    await this.store.putReputation(rep);
    await this.store.putStanding(s);
  }

  private creditMs(claimedMs: number | undefined): number {
    const ms = claimedMs ?? 0;
    return Number.isFinite(ms) && ms > 0 ? Math.min(ms, this.maxCreditMs) : 0;
  }

  private credit(adapterClass: string, ms: number): number {
    return (ms / 1000) * this.weights[deviceClassOf(adapterClass)];
  }

  private statusOf(t: TaskVerification): VerificationStatus {
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
      wanted: this.wantedOf(t),
      needsVetted: t.needsVetted,
      adapterLock: t.adapterLock,
      workers: [...new Set(t.replicas.filter((r) => r.status !== 'released').map((r) => r.workerId))],
    };
  }
}
