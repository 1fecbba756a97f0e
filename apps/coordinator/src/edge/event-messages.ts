// What `/v1/events` sends: bus envelopes (bus-spec.md §5.2; #19), or for one release on
// `?format=legacy` the flat objects sent before them.
import { submitSpanId, type Trace, uuid } from '@flock/protocol';
import type { TaskState } from '../store/store.ts';

/** The message shape a subscriber asked for: `bus` (the default) or `legacy` (`?format=legacy`). */
export type EventFormat = 'bus' | 'legacy';

/** Schemas of the bus envelopes' payloads. */
export const EVENT_SCHEMAS = {
  /** `{ task_id, campaign_id?, state, data, event? }`: a task's transition. */
  task: 'flock.task.event.v1',
  /** The same shape for a workflow (`task_id` is the workflow id; compute:workflow:v1:*). */
  workflow: 'flock.workflow.event.v1',
  /** A volunteer's capability (operators only). */
  worker: 'flock.worker.event.v1',
  /** A notice of the coordinator's own (service levels, breakers). */
  notice: 'flock.notice.v1',
} as const;

/** What a task (or workflow) transition says, whatever the format. */
export interface TransitionFacts {
  topic: string;
  taskId: string;
  campaignId: string | undefined;
  state: TaskState;
  tsMs: number;
  /** The task's trace id (its envelope's correlation_id); none for workflow events. */
  traceId?: string | undefined;
  /** The lease's span, for events of one lease (accepted, progress). */
  spanId?: string | undefined;
}

const WORKFLOW_TOPICS = 'compute:workflow:';

/**
 * A transition as a subscriber receives it. `channel`: the return channel it is delivered on
 * (the envelope's topic then; the compute topic moves to `event`).
 */
export function transitionMessage(
  e: TransitionFacts,
  data: unknown,
  format: EventFormat,
  channel?: string,
): string {
  const ts = new Date(e.tsMs).toISOString();
  if (format === 'legacy') {
    const body: Record<string, unknown> = { topic: channel ?? e.topic, task_id: e.taskId };
    if (e.campaignId !== undefined) body.campaign_id = e.campaignId;
    body.ts = ts;
    body.state = e.state;
    body.payload = data;
    if (channel !== undefined) body.event = e.topic;
    return JSON.stringify(body);
  }
  const payload: Record<string, unknown> = { task_id: e.taskId };
  if (e.campaignId !== undefined) payload.campaign_id = e.campaignId;
  payload.state = e.state;
  if (channel !== undefined) payload.event = e.topic;
  payload.data = data;
  const schema = e.topic.startsWith(WORKFLOW_TOPICS) ? EVENT_SCHEMAS.workflow : EVENT_SCHEMAS.task;
  const message: Record<string, unknown> = {
    id: uuid(),
    type: 'event',
    topic: channel ?? e.topic,
    ts,
    schema,
    payload,
  };
  if (e.traceId) message.trace = traceOf(e.traceId, e.taskId, e.spanId);
  return JSON.stringify(message);
}

/**
 * The trace of a task's event: its trace id, and the span it belongs to — the lease's (whose
 * parent is the submission's span) or else the submission's own.
 */
function traceOf(traceId: string, taskId: string, leaseSpan: string | undefined): Trace {
  const submission = submitSpanId(traceId, taskId);
  if (leaseSpan === undefined) return { correlation_id: traceId, span_id: submission };
  return { correlation_id: traceId, span_id: leaseSpan, parent_id: submission };
}

/** A message that concerns no task (a worker's capability, a notice). */
export function plainMessage(
  kind: 'worker' | 'notice',
  topic: string,
  tsMs: number,
  payload: unknown,
  format: EventFormat,
): string {
  const ts = new Date(tsMs).toISOString();
  if (format === 'legacy') return JSON.stringify({ topic, ts, payload });
  return JSON.stringify({ id: uuid(), type: 'event', topic, ts, schema: EVENT_SCHEMAS[kind], payload });
}
