// A queued or running task as the engine keeps it in memory, built from its stored record.
import { type ComputeEnvelope, type ComputeResult, fromJson } from '@flock/protocol';
import type { TaskRecord } from '../store/store.ts';
import { warmKeyOf } from './matching.ts';
import { opKeyOf } from './op-key.ts';
import { openTaskBytes } from './open-tasks.ts';
import type { SchedTask } from './scheduler.ts';
import { SharedParts } from './shared-parts.ts';
import type { WorkerState } from './worker-state.ts';

export interface OpenTask {
  uid: number;
  /** What it runs, as service levels and breakers count it (op-key.ts). */
  op: string;
  tenant: string;
  taskId: string;
  campaignId: string | undefined;
  returnChannel: string | undefined;
  envelope: ComputeEnvelope;
  state: 'queued' | 'running';
  attempts: number;
  failures: number;
  maxRetries: number;
  notBeforeMs: number;
  deadlineAtMs: number | undefined;
  sched: SchedTask;
  leaseId: string | undefined;
  createdAtMs: number;
  /** Its estimated memory, bytes (`openTaskBytes`): a fixed part, its stored envelope, its params. */
  memBytes: number;
  /** Set when the task has a `verification` policy: replicas' results by worker, until decided. */
  replicas: Map<string, ComputeResult> | undefined;
  /**
   * Verified tasks: the leases of the replicas running now. They run at once, on distinct
   * workers; `leaseId` is then the stored attempt, which stays open until the engine decides.
   */
  replicaLeases: Set<string>;
  /** Workers the dispatcher found the engine refusing for reasons the scheduler does not mirror. */
  refusedWorkers: Set<string>;
  /** Replica leases lost or failed retryably; bounded by maxAttempts. */
  replicaLosses: number;
  /**
   * Verified tasks: the trust engine decided on the result of replica lease `leaseId` (`result`,
   * its outputs stored), and the store has not taken the decision yet (it could not be reached).
   * That result, sent again or its lease lost, commits this decision rather than vote again.
   */
  decided?: { leaseId: string; result: ComputeResult; decision: ReplicaDecision } | undefined;
  /** A speculative copy at its campaign's tail: queued (no lease yet) or leased. */
  copy?: { leaseId: string | undefined } | undefined;
  /**
   * Its trace id may be shared with other tasks: a campaign's (derived or chosen), or one its
   * requester chose (known in the process that took the submission only). Spot checks copy a
   * shared trace id and draw a fresh one otherwise (#19).
   */
  sharedTrace?: boolean;
}

/** What the trust engine decided on a verified task: the result it accepted, or why it failed. */
export type ReplicaDecision =
  | { kind: 'accepted'; canonical: ComputeResult }
  | { kind: 'failed'; message: string };

/** A task the scheduler matched to a worker in this pass (its slot is counted as taken). */
export type Match = { task: SchedTask; worker: WorkerState };

export const usesGpu = (env: ComputeEnvelope): boolean =>
  env.module?.kind === 'wgsl' || Boolean(env.requirements?.min?.webgpu || env.requirements?.min?.gpu);

/** The module and requirements the open tasks share (a campaign's are mostly equal). */
const SHARED = new SharedParts();

/**
 * The open task of a stored record (`known`: its envelope, when the caller has it parsed). Its
 * envelope, which is what volunteers are sent, leaves out the requester's `security` (its signed
 * task token stays in the stored record, for the result: GET /v1/tasks/:id/result).
 */
export function toOpen(rec: TaskRecord, known?: ComputeEnvelope): OpenTask {
  const parsed = known ?? fromJson('ComputeEnvelope', JSON.parse(Buffer.from(rec.envelope).toString('utf8')));
  // Copied only to leave `security` out: most envelopes have none and are kept as they are.
  const envelope = parsed.security === undefined ? parsed : withoutSecurity(parsed);
  SHARED.share(envelope);
  const min = envelope.requirements?.min;
  const verified = envelope.verification !== undefined;
  return {
    uid: rec.uid,
    op: opKeyOf(envelope),
    tenant: rec.tenant,
    taskId: rec.taskId,
    campaignId: rec.campaignId,
    returnChannel: envelope.return_channel || undefined,
    envelope,
    sharedTrace: Boolean(rec.campaignId),
    state: 'queued',
    attempts: rec.attempts,
    failures: rec.failures,
    maxRetries: rec.maxRetries,
    notBeforeMs: rec.notBeforeMs,
    deadlineAtMs: rec.deadlineAtMs,
    leaseId: undefined,
    createdAtMs: rec.createdAtMs,
    memBytes: openTaskBytes(rec.envelope.byteLength, envelope.params),
    replicas: verified ? new Map() : undefined,
    replicaLeases: verified ? new Set() : NONE,
    refusedWorkers: verified ? new Set() : NONE,
    replicaLosses: 0,
    sched: {
      uid: rec.uid,
      tenant: rec.tenant,
      priority: rec.priority,
      deadlineAtMs: rec.deadlineAtMs,
      min,
      preferred: envelope.requirements?.preferred,
      moduleHash: warmKeyOf(envelope),
      gpu: usesGpu(envelope),
      queuedAtMs: rec.updatedAtMs,
    },
  };
}

function withoutSecurity({ security: _s, ...envelope }: ComputeEnvelope): ComputeEnvelope {
  return envelope;
}

/**
 * The replica leases and refused workers of a task without a verification policy: only verified
 * tasks have either, so such tasks share this empty set rather than make two each. Adding to it
 * is a bug, and throws rather than let tasks share what one of them recorded.
 */
class NoneSet extends Set<string> {
  override add(value: string): this {
    throw new Error(`a task without verification records no replica or refusal (${value})`);
  }
}
const NONE: Set<string> = new NoneSet();

const SPLICED = Buffer.from('{"correlation_id":"');

/**
 * The trace id of a stored task: its envelope's `correlation_id`. Read off the front where the
 * coordinator spliced it in (requester-intake.ts); parsed only when the requester set it.
 */
export function storedCorrelationId(envelopeJson: Uint8Array): string | undefined {
  // Every task view reads it (a campaign's 201 has one per task): no Buffer views made of a Buffer.
  const bytes = Buffer.isBuffer(envelopeJson)
    ? envelopeJson
    : Buffer.from(envelopeJson.buffer, envelopeJson.byteOffset, envelopeJson.byteLength);
  if (bytes.length >= SPLICED.length && bytes.compare(SPLICED, 0, SPLICED.length, 0, SPLICED.length) === 0) {
    const end = bytes.indexOf(0x22, SPLICED.length);
    if (end > 0) return bytes.toString('latin1', SPLICED.length, end);
  }
  if (!bytes.includes('"correlation_id"')) return undefined;
  const id = (JSON.parse(bytes.toString('utf8')) as { correlation_id?: unknown }).correlation_id;
  return typeof id === 'string' ? id : undefined;
}

/**
 * The `return_channel` of a stored task that is not open here (cancelled through another
 * coordinator of a cluster): read from its envelope's JSON view, a rare path.
 */
export function storedReturnChannel(envelopeJson: Uint8Array): string | undefined {
  const text = Buffer.from(envelopeJson.buffer, envelopeJson.byteOffset, envelopeJson.byteLength).toString(
    'utf8',
  );
  const channel = (JSON.parse(text) as { return_channel?: unknown }).return_channel;
  return typeof channel === 'string' && channel !== '' ? channel : undefined;
}
