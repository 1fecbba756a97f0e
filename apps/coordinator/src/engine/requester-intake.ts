// The requester's side of the engine: tasks in (stored in one transaction, then queued and
// announced) and why a queued task waits.
import { type ComputeEnvelope, campaignTraceId, newTraceId, toJson } from '@flock/protocol';
import { isWebhookChannel } from '../edge/webhook-targets.ts';
import { CoordinatorError } from '../errors.ts';
import { sha256Hex } from '../sha256.ts';
import type { InsertOutcome } from '../store/store.ts';
import type { ArmedWebhook } from '../store/webhook-store.ts';
import { resolvePolicy, TrustError } from '../trust/index.ts';
import { checkDeliverable } from './deliverable.ts';
import type { Engine } from './engine.ts';
import { toOpen } from './open-task.ts';
import type { WaitingMemo } from './waiting-memo.ts';

/** A submission: a validated envelope and the tenant it belongs to. */
export interface Submission {
  tenant: string;
  envelope: ComputeEnvelope;
  /** Where the envelope sits in its request (`tasks[3]`), for the `field` of a refusal. */
  field?: string | undefined;
  /**
   * The trace id of the request (its `traceparent`'s), for an envelope without `correlation_id`;
   * none: its campaign's (derived from tenant and campaign id), or a new one (#19).
   */
  traceId?: string | undefined;
}

export class RequesterIntake {
  constructor(private readonly e: Engine) {}

  /**
   * Stores tasks (one transaction), then queues and announces the new ones. Same task_id with the
   * same content is `existing`; with other content `conflict` (and nothing is stored).
   */
  async submit(items: Submission[]): Promise<InsertOutcome[]> {
    for (const { envelope, field } of items) {
      try {
        if (envelope.verification) resolvePolicy(envelope.verification);
      } catch (err) {
        if (err instanceof TrustError) {
          throw new CoordinatorError('INVALID_ARGUMENT', err.message, joinField(field, err.field));
        }
        throw err;
      }
    }
    const now = Date.now();
    const campaignTrace = { tenant: '', campaign: '', id: '' }; // a batch is mostly one campaign: derived once
    // Traces the requester chose (its own correlation_id, a traceparent) may be shared by its tasks.
    const chosen = items.map((item) => Boolean(item.envelope.correlation_id || item.traceId));
    const rows = items.map(({ tenant, envelope, field, traceId }) => {
      const text = JSON.stringify(toJson('ComputeEnvelope', envelope));
      // The content is the envelope as sent: a trace filled in here is no part of it, so the same
      // task sent again (with another traceparent, or none) is the same task.
      const contentHash = sha256Hex(text);
      let bytes: Buffer;
      if (!envelope.correlation_id) {
        const campaign = envelope.campaign_id;
        if (traceId === undefined && campaign) {
          if (campaignTrace.tenant !== tenant || campaignTrace.campaign !== campaign) {
            Object.assign(campaignTrace, { tenant, campaign, id: campaignTraceId(tenant, campaign) });
          }
          traceId = campaignTrace.id;
        }
        envelope.correlation_id = traceId ?? newTraceId();
        bytes = withCorrelation(text, envelope.correlation_id);
      } else bytes = Buffer.from(text);
      // What is accepted can be delivered: its assignment fits the frame limit tabs are told.
      checkDeliverable(envelope, bytes.length, this.e.config.maxFrameBytes, field);
      const qos = envelope.requirements?.qos;
      return {
        tenant,
        taskId: envelope.task_id!,
        campaignId: envelope.campaign_id || undefined,
        op: envelope.op!,
        moduleKind: envelope.module?.kind ?? 'wasm',
        contentHash,
        envelope: bytes,
        priority: qos?.priority ?? 0,
        deadlineAtMs: qos?.deadline_ms ? now + qos.deadline_ms : undefined,
        maxRetries: qos?.retries ?? 0,
        createdAtMs: now,
      };
    });
    await this.armWebhooks(items, now);
    const outcomes = await this.e.store.insertTasks(rows);
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i]!;
      if (outcome.kind !== 'created') continue;
      const task = toOpen(outcome.task, items[i]!.envelope);
      if (chosen[i]) task.sharedTrace = true;
      if (this.e.backlog.leaves(task.memBytes)) {
        // Past the memory budget: stored and announced, loaded once room frees (backlog.ts).
        this.e.backlog.leave(task.uid);
        this.e.tails.opened(task);
        this.e.transitions.announceQueued(task, now);
        continue;
      }
      this.e.transitions.open(task);
      // Only a verified task has replicas to open (an await per task of a campaign otherwise).
      if (task.replicas) await this.e.replicas.open(task);
      this.e.transitions.requeue(task, now);
    }
    // The new tasks that can start now are leased, committed and sent before the request is
    // answered: submit→start is then one commit shorter, not a turn of the event loop later.
    if (outcomes.some((o) => o.kind === 'created')) await this.e.dispatcher.dispatchAccepted();
    return outcomes;
  }

  /**
   * Before tasks with a URL return_channel are stored, their webhook outbox rows are, so that a
   * terminal event whose delivery a crash lost is still delivered (edge/webhook-outbox.ts).
   */
  private async armWebhooks(items: Submission[], now: number): Promise<void> {
    const armed: ArmedWebhook[] = [];
    for (const { tenant, envelope } of items) {
      if (!isWebhookChannel(envelope.return_channel || undefined)) continue;
      armed.push({ tenant, taskId: envelope.task_id!, kind: 'task', armedAtMs: now });
    }
    if (armed.length > 0) await this.e.store.webhookStore().arm(armed);
  }

  /**
   * Why a queued task waits, or undefined when it is not queued in this process. `memo` shares
   * the answer between tasks with the same requirements within one request.
   */
  waitingReason(uid: number, memo?: WaitingMemo): string | undefined {
    const task = this.e.open.get(uid);
    if (task === undefined && this.e.backlog.holds(uid)) return this.e.backlog.reason();
    if (task?.state !== 'queued') return undefined;
    const held = this.e.breakers.waitingReason(uid);
    if (held) return held;
    if (task.notBeforeMs > Date.now() && !this.e.scheduler.has(uid)) {
      return `retry backoff until ${new Date(task.notBeforeMs).toISOString()}`;
    }
    // Tasks with the same requirements in one request share the answer: looked up before the
    // connected workers are listed (a campaign's 201 views every one of its tasks). A verified
    // task's answer is its own (the workers it ran on, vetted, adapter class).
    const shared = task.replicas ? undefined : memo;
    const known = shared?.get(task.sched.min, task.sched.gpu);
    if (known !== undefined) return known;
    const connected = this.e.sessions.connectedWorkers();
    const workers = connected.filter((w) => !w.quarantined);
    let reason: string;
    if (workers.length === 0 && connected.length > 0) {
      const n = connected.length;
      reason = `${n === 1 ? 'the connected volunteer is' : `all ${n} connected volunteers are`} quarantined (failed a known-answer check)`;
    } else reason = this.e.scheduler.waitingReason(task.sched, workers);
    shared?.set(task.sched.min, task.sched.gpu, reason);
    return reason;
  }
}

/** `tasks[3]` + `verification.quorum` → `tasks[3].verification.quorum`. */
function joinField(prefix: string | undefined, field: string | undefined): string | undefined {
  if (!prefix) return field;
  return field ? `${prefix}.${field}` : prefix;
}

/**
 * The JSON view `{...}` with `"correlation_id":"<id>"` first: spliced in, not serialized again,
 * and written straight into the one buffer stored (the view's `{` overwritten by the comma).
 * The id is hex or of the task id alphabet (validated), so it needs no escaping.
 */
function withCorrelation(json: string, id: string): Buffer {
  const head = `{"correlation_id":"${id}"`;
  if (json.length <= 2) return Buffer.from(`${head}}`);
  const bytes = Buffer.allocUnsafe(head.length + Buffer.byteLength(json));
  bytes.write(head, 0, 'latin1');
  bytes.write(json, head.length, 'utf8');
  bytes[head.length] = 0x2c; // ','
  return bytes;
}
