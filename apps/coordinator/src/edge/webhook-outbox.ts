// The webhook outbox (#19): a task or workflow whose return_channel is a URL gets an outbox row
// before it is stored, and the delivery of its terminal event deletes that row in the same write
// (edge/webhooks.ts). A coordinator killed between a terminal transition's commit and that write
// leaves the row behind: the next start finds the rows whose task or workflow ended and stores
// their deliveries, rebuilt from the stored task or workflow. Nothing is written for tasks
// without a URL return_channel.
import { type ComputeResult, campaignTraceId, decodeMessage, EVENTS, toJson } from '@flock/protocol';
import type { Logger } from 'pino';
import { storedCorrelationId, storedReturnChannel } from '../engine/open-task.ts';
import { workflowJson, workflowTopic } from '../engine/workflows.ts';
import type { Store, TaskRecord } from '../store/store.ts';
import type { NewDelivery, OutboxKind, SettledArm } from '../store/webhook-store.ts';
import type { WorkflowRecord } from '../store/workflow-store.ts';
import { transitionMessage } from './event-messages.ts';
import type { TaskEvent } from './events-hub.ts';
import { isWebhookChannel } from './webhook-targets.ts';

/** On a store other coordinators share, how often rows a crashed coordinator left are looked for, ms. */
export const OUTBOX_SWEEP_MS = 30_000;
/**
 * On a shared store, a row is settled only once its task ended this long ago, ms: a live
 * coordinator stores its own deliveries within an event-loop turn of the commit.
 */
export const OUTBOX_GRACE_MS = 30_000;
/** Rows settled per read. */
const PAGE = 500;
/** The compute topics of workflows (their own events, and their steps'). */
const WORKFLOW_TOPICS = 'compute:workflow:';

/**
 * The outbox row a terminal event's delivery settles: a task's, a workflow's own; none for a
 * workflow's step events (they have no row).
 */
export function outboxKindOf(topic: string): OutboxKind | undefined {
  if (!topic.startsWith(WORKFLOW_TOPICS)) return 'task';
  return topic === workflowTopic('step') ? undefined : 'workflow';
}

export class WebhookOutbox {
  private sweep: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  /** `onStored`: deliveries were stored (the webhooks then look for due ones at once). */
  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly onStored: () => void,
  ) {}

  /**
   * Settles the rows the previous run left: those whose task or workflow ended before
   * `startedAtMs` (this process's own end later). On a `shared` store, where other coordinators
   * are storing their deliveries right now, those that ended OUTBOX_GRACE_MS before it, and a
   * sweep every OUTBOX_SWEEP_MS settles the rest (a coordinator that died and stays down).
   */
  async start(startedAtMs: number, shared: boolean): Promise<void> {
    await this.run(shared ? startedAtMs - OUTBOX_GRACE_MS : startedAtMs);
    if (!shared) return;
    this.sweep = setInterval(() => {
      this.running ??= this.run(Date.now() - OUTBOX_GRACE_MS).finally(() => {
        this.running = undefined;
      });
    }, OUTBOX_SWEEP_MS);
    this.sweep.unref();
  }

  async stop(): Promise<void> {
    if (this.sweep) clearInterval(this.sweep);
    await this.running;
  }

  private async run(beforeMs: number): Promise<void> {
    try {
      const stored = await this.settle(beforeMs);
      if (stored === 0) return;
      this.log.warn(
        { stored },
        'webhook deliveries stored from the outbox (lost by a coordinator that died)',
      );
      this.onStored();
    } catch (err) {
      this.log.error({ err }, 'webhook outbox not settled');
    }
  }

  /**
   * Settles every row whose task or workflow ended (or is not stored) before `beforeMs`: each is
   * deleted, with the delivery of its terminal event stored in the same write unless one is
   * stored already. Returns how many deliveries were stored.
   */
  async settle(beforeMs: number): Promise<number> {
    const webhooks = this.store.webhookStore();
    let stored = 0;
    for (let round = 0; round < 10_000; round++) {
      const arms = await webhooks.settledArms(beforeMs, PAGE);
      for (const arm of arms) {
        const delivery = arm.stored ? await this.deliveryOf(arm) : undefined;
        if ((await webhooks.settle(arm, delivery)) !== undefined) stored += 1;
      }
      if (arms.length < PAGE) break;
    }
    return stored;
  }

  /** The delivery of the row's terminal event; undefined when there is none to make. */
  private async deliveryOf(arm: SettledArm): Promise<NewDelivery | undefined> {
    const event =
      arm.kind === 'task'
        ? taskEvent(await this.store.getTask(arm.tenant, arm.taskId))
        : workflowEvent(await this.store.workflowStore().get(arm.tenant, arm.taskId));
    if (!event || !isWebhookChannel(event.returnChannel)) return undefined;
    // A task submitted again under its id after its delivery was stored armed a row again.
    const made = await this.store.webhookStore().list(arm.tenant, arm.taskId, 1000);
    if (made.some((d) => d.event === event.topic && d.createdAtMs >= event.tsMs)) return undefined;
    return {
      tenant: arm.tenant,
      taskId: arm.taskId,
      event: event.topic,
      url: event.returnChannel,
      body: transitionMessage(event, event.payload(), 'bus', event.returnChannel),
      createdAtMs: Date.now(),
    };
  }
}

/** A finished task's terminal event, rebuilt from its row (the payload as the engine announces it). */
function taskEvent(rec: TaskRecord | undefined): TaskEvent | undefined {
  if (!rec) return undefined;
  const base = {
    tenant: rec.tenant,
    taskId: rec.taskId,
    campaignId: rec.campaignId,
    returnChannel: storedReturnChannel(rec.envelope),
    tsMs: rec.updatedAtMs,
    traceId: storedCorrelationId(rec.envelope),
  };
  switch (rec.state) {
    case 'succeeded':
      return { ...base, topic: EVENTS.success, state: rec.state, payload: () => resultJson(rec) };
    case 'failed':
      return {
        ...base,
        topic: EVENTS.failed,
        state: rec.state,
        payload: () =>
          toJson('ComputeFailure', {
            task_id: rec.taskId,
            code: rec.failureCode ?? 'EXECUTION_ERROR',
            message: rec.failureMessage ?? '',
            retryable: false,
          }),
      };
    case 'cancelled':
      return {
        ...base,
        topic: EVENTS.cancelled,
        state: rec.state,
        payload: () => toJson('ComputeCancelled', { task_id: rec.taskId, reason: rec.failureMessage ?? '' }),
      };
    default:
      return undefined;
  }
}

/** The stored result's JSON view (a bare Cap'n Proto message is read too). */
function resultJson(rec: TaskRecord): unknown {
  if (rec.result === undefined) return { task_id: rec.taskId };
  if (rec.result[0] === 0x7b) return JSON.parse(new TextDecoder().decode(rec.result));
  return toJson('ComputeResult', decodeMessage('ComputeResult', rec.result) as ComputeResult);
}

/** A finished workflow's own terminal event, rebuilt from its row. */
function workflowEvent(record: WorkflowRecord | undefined): TaskEvent | undefined {
  if (!record || record.state === 'running') return undefined;
  const channel = (JSON.parse(record.definition) as { return_channel?: unknown }).return_channel;
  return {
    topic: workflowTopic(record.state),
    tenant: record.tenant,
    taskId: record.workflowId,
    campaignId: record.workflowId,
    returnChannel: typeof channel === 'string' ? channel : undefined,
    state: record.state,
    tsMs: record.finishedAtMs ?? record.createdAtMs,
    payload: () => workflowJson(record),
    traceId: campaignTraceId(record.tenant, record.workflowId),
  };
}
