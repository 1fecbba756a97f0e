import type { KnownAnswer } from './known-answers.ts';
import type { ResultDigest } from './result-digest.ts';
import type { ResolvedPolicy } from './verification-policy.ts';

/**
 * What the trust engine keeps, as an interface the coordinator's store can back (one table per
 * record kind; each `put` replaces the whole record). `MemoryTrustStore` implements it for tests
 * and the simulation. The engine serialises its own calls, so a store needs no transactions
 * across records; a put must be durable when its promise resolves.
 */
export interface TrustStore {
  getReputation(workerId: string, moduleHash: string, adapterClass: string): Promise<Reputation | undefined>;
  putReputation(rep: Reputation): Promise<void>;
  /** Ordered by module hash, then adapter class. */
  listReputations(workerId: string): Promise<Reputation[]>;

  getStanding(workerId: string): Promise<WorkerStanding | undefined>;
  putStanding(standing: WorkerStanding): Promise<void>;
  /** Ordered by worker id. */
  listStandings(): Promise<WorkerStanding[]>;

  /** Appends to the worker's vouched-for list, dropping the oldest beyond MAX_UNCONFIRMED. */
  addUnconfirmed(workerId: string, entry: UnconfirmedResult): Promise<void>;
  /** The worker's vouched-for list, oldest first. */
  listUnconfirmed(workerId: string): Promise<UnconfirmedResult[]>;
  clearUnconfirmed(workerId: string): Promise<void>;

  getTask(taskId: string): Promise<TaskVerification | undefined>;
  putTask(task: TaskVerification): Promise<void>;
  deleteTask(taskId: string): Promise<void>;

  getCheck(checkId: string): Promise<SpotCheckRecord | undefined>;
  putCheck(check: SpotCheckRecord): Promise<void>;
  deleteCheck(checkId: string): Promise<void>;
}

/** Adaptive-replication state of one (worker, module hash, adapter class). */
export interface Reputation {
  workerId: string;
  moduleHash: string;
  adapterClass: string;
  /** Validated results in a row; reset to 0 by an invalid result or a failed known-answer check. */
  consecutiveValid: number;
  /** Results that agreed with a quorum or matched a known answer. */
  valid: number;
  /** Results that disagreed with the canonical result or failed a known-answer check. */
  invalid: number;
  /** Results believed alone (adaptive replication), never validated by themselves. */
  acceptedAlone: number;
  updatedAtMs: number;
}

/**
 * A task whose canonical result this worker vouched for (alone, or as a member of the agreeing
 * quorum) since its last passed known-answer check; `credit` is what it earned provisionally
 * (0 for quorum results, whose credit is confirmed at once).
 */
export interface UnconfirmedResult {
  taskId: string;
  credit: number;
}

/** Vouched-for tasks (see `TrustStore.addUnconfirmed`) kept per worker at most; the oldest are dropped (no longer re-verifiable). */
export const MAX_UNCONFIRMED = 1000;

/** Everything the engine knows about one worker identity. */
export interface WorkerStanding {
  workerId: string;
  firstSeenMs: number;
  /** Passed at least `probationChecks` known-answer checks: may complete a quorum. */
  vetted: boolean;
  /** Failed a known-answer check: its results count for nothing and it gets no replicas. */
  quarantined: boolean;
  quarantinedAtMs: number | undefined;
  checksPassed: number;
  checksFailed: number;
  validResults: number;
  invalidResults: number;
  /** Device-weighted compute seconds of validated results. */
  credit: number;
  /** Credit of results accepted alone, confirmed by the next passed check, forfeited by a failed one. */
  pendingCredit: number;
  /** Returned a result that disagreed with the canonical one: its next dispatch is a spot check. */
  suspect: boolean;
  /** The spot check this worker is running, if any (one at a time). */
  checkInFlight: string | undefined;
}

export type ReplicaStatus = 'running' | 'returned' | 'released' | 'discarded';

/** One copy of a task dispatched to one worker. */
export interface ReplicaRecord {
  workerId: string;
  adapterClass: string;
  status: ReplicaStatus;
  /** Dispatched to a trusted worker whose result is believed alone. */
  alone: boolean;
  /** Index into `TaskVerification.groups` once returned. */
  group: number | undefined;
  claimedMs: number | undefined;
  verdict: 'valid' | 'invalid' | undefined;
}

/** Returned results that agree with each other; `digest` is the first member's. */
export interface ResultGroup {
  digest: ResultDigest;
  members: string[];
}

export type VerificationState = 'pending' | 'accepted' | 'failed';

/** How a canonical result was chosen: agreeing quorum, a trusted worker alone, or a quorum-1 policy. */
export type AcceptedBy = 'quorum' | 'trusted' | 'single';

/** The verification of one task: its replicas, their results grouped, and the decision. */
export interface TaskVerification {
  taskId: string;
  moduleHash: string;
  policy: ResolvedPolicy;
  /** Copies wanted in all so far (active ones count against it). */
  target: number;
  /** Homogeneous policy: the adapter class of the first replica. */
  adapterLock: string | undefined;
  /** A group reached the quorum without a vetted member: the next replica must be vetted. */
  needsVetted: boolean;
  /** Reopened after a worker it trusted failed a check: no replica may be believed alone. */
  noAlone: boolean;
  replicas: ReplicaRecord[];
  groups: ResultGroup[];
  state: VerificationState;
  acceptedBy: AcceptedBy | undefined;
  canonicalGroup: number | undefined;
  canonicalWorker: string | undefined;
  openedAtMs: number;
  decidedAtMs: number | undefined;
}

/** A known-answer task in flight on one worker. */
export interface SpotCheckRecord {
  checkId: string;
  workerId: string;
  adapterClass: string;
  answer: KnownAnswer;
  issuedAtMs: number;
}
