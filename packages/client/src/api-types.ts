// The JSON bodies of the requester REST API (contract B). Protocol messages themselves
// (ComputeEnvelope, ComputeResult, Capability, ...) come from @flock/protocol.
import type { JsonObject } from '@flock/protocol';

export type TaskState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** The states a task never leaves. */
export const TERMINAL_STATES: readonly TaskState[] = ['succeeded', 'failed', 'cancelled'];

/** True for `succeeded`, `failed` and `cancelled`. */
export function isTerminal(state: TaskState): boolean {
  return TERMINAL_STATES.includes(state);
}

/** One attempt (lease) of a task on one worker. Times are Unix epoch milliseconds. */
export interface TaskAttempt {
  attempt: number;
  worker_id: string;
  lease_id: string;
  started_at_ms: number;
  ended_at_ms?: number;
  outcome?: string;
  code?: string;
}

/** Where verification of a task stands (apps/coordinator/TRUST.md). */
export type VerificationState = 'pending' | 'accepted' | 'failed';

/**
 * How a verified task's result was accepted: `quorum` (enough distinct workers agreed),
 * `trusted` (adaptive mode: one trusted worker's result believed alone), `single` (a quorum of 1).
 */
export type AcceptedBy = 'quorum' | 'trusted' | 'single';

/**
 * The `verification` block of a task view: present for tasks submitted with a `verification`
 * policy. Counts are replicas (copies of the task run on distinct workers).
 */
export interface TaskVerification {
  state: VerificationState;
  /** `fixed`: the policy's replicas and quorum; `adaptive`: one copy when a trusted worker runs it. */
  mode: 'fixed' | 'adaptive';
  /** Agreeing results needed for a canonical result. */
  quorum: number;
  /** Copies in all before the task fails `VERIFICATION_FAILED`. */
  max_replicas: number;
  /** Copies leased so far (released ones not counted). */
  dispatched: number;
  /** Copies running now (they run at once, each on its own worker). */
  running: number;
  /** Copies whose results came back. */
  returned: number;
  /** Size of the largest group of agreeing results. */
  agreeing: number;
  /** Set once accepted. */
  accepted_by?: AcceptedBy;
  /**
   * Workers that ran or run a copy, in dispatch order. Only the first copy is a stored attempt,
   * so this is where the others' workers show.
   */
  workers: string[];
}

/** `GET /v1/tasks/:id`. Times are Unix epoch milliseconds. */
export interface TaskView {
  task_id: string;
  tenant: string;
  campaign_id?: string;
  /** The task's trace id (its envelope's `correlation_id`, set by the coordinator when absent). */
  correlation_id?: string;
  op: string;
  module_kind: string;
  state: TaskState;
  created_at_ms: number;
  updated_at_ms: number;
  progress?: { pct: number; metrics?: Record<string, string> };
  /** Why no connected worker can take the task (queued only). */
  waiting_reason?: string;
  failure?: { code: string; message: string };
  attempts: TaskAttempt[];
  result_available: boolean;
  executor?: string;
  duration_ms?: number;
  /** Tasks submitted with a `verification` policy: how far verification has come. */
  verification?: TaskVerification;
}

/** `GET /v1/tasks` filters; `after` is the `next` cursor of the previous page. */
export interface TaskQuery {
  state?: TaskState;
  campaign_id?: string;
  limit?: number;
  after?: string;
}

export interface TaskPage {
  tasks: TaskView[];
  next?: string;
}

export interface CampaignCounts {
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export interface CampaignView {
  campaign_id: string;
  counts?: CampaignCounts;
  tasks: TaskView[];
}

/** `POST /v1/modules`: the content address of an uploaded WASM module or WGSL source. */
export interface ModuleRef {
  /** `sha256:<hex>` of the bytes. */
  hash: string;
  size: number;
  /** `flock:sha256:<hex>`: put it in `module.uri`. */
  uri: string;
}

/** One volunteer in `GET /v1/workers`; `capability` is the JSON view of a Capability. */
export interface WorkerView {
  worker_id: string;
  connected: boolean;
  capability: JsonObject;
  running: number;
  tasks_succeeded: number;
  tasks_failed: number;
  connected_at_ms: number;
  last_seen_ms: number;
  /** Device-weighted compute seconds of validated results (TRUST.md, "Credit"). */
  credit: number;
  /** Device-weighted seconds of results believed alone, confirmed by the worker's next passed check. */
  pending_credit: number;
  /** Results that agreed with a quorum or matched a known answer. */
  valid_results: number;
  /** Results that disagreed with the canonical result or failed a known-answer check. */
  invalid_results: number;
  /** Known-answer (spot) checks passed and failed. */
  checks_passed: number;
  checks_failed: number;
  /** Passed a known-answer check: its results count toward quorums. */
  vetted: boolean;
  /** Failed a known-answer check: its results count for nothing and it gets no work. */
  quarantined: boolean;
  /**
   * The coordinator runs no known-answer checks (`FLOCK_SPOT_CHECKS=off`): no worker is ever
   * vetted, and results count when a quorum agrees. Absent from coordinators before it.
   */
  unchecked?: boolean;
}

/** A service-level target an op can miss: p95 end-to-end latency, or success rate. */
export type SloKind = 'p95' | 'success';

/** The coordinator's service-level targets (`FLOCK_SLO_P95_MS`, `FLOCK_SLO_SUCCESS`). */
export interface SloTargets {
  /** p95 end-to-end latency target, ms; 0: no target. */
  p95_ms: number;
  /** Success-rate target in 0..1; 0: no target. */
  success: number;
  /** The sliding window the ops' levels are measured over, ms. */
  window_ms: number;
}

/**
 * One op's service level over the SLO window. `op` is a built-in or library op by name (`sum`),
 * a module by kind and hash prefix (`wasm:<12 hex>`, `wgsl:<12 hex>`), or `other` (ops past
 * the coordinator's limit, counted together).
 */
export interface OpLevelView {
  op: string;
  /** Finished tasks in the window. */
  count: number;
  succeeded: number;
  failed: number;
  /** succeeded / count, in 0..1. */
  success_rate: number;
  /** End-to-end latency (accepted → finished) percentiles, ms. */
  p50_ms: number;
  p95_ms: number;
  /** The targets it misses (judged from 20 outcomes in the window on). */
  violations: SloKind[];
}

/** `GET /v1/stats`. */
export interface StatsView {
  queue_depth: number;
  /** Of `queue_depth`, the tasks waiting in the store past the coordinator's memory budget. */
  queued_in_store: number;
  running: number;
  workers: number;
  throughput_per_min: number;
  latency_ms: { p50: number; p95: number; p99: number };
  slo: SloTargets;
  /** Every op with a finished task in the window, sorted by op. */
  ops: OpLevelView[];
}

/** `closed`: dispatched; `open`: its tasks are held; `half-open`: one task let through to try. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * One circuit breaker of `GET /v1/breakers` (the caller's tenant): an op whose tasks failed
 * non-retryably on `failed_workers` distinct volunteers in a row. Times are Unix epoch ms.
 */
export interface BreakerView {
  op: string;
  state: BreakerState;
  /** Distinct volunteers with a non-retryable failure since the op's last success. */
  failed_workers: number;
  /** The last failure's code. */
  last_code: string;
  /** Queued tasks held out of the queue while it is open. */
  held_tasks: number;
  /** Set unless closed. */
  opened_at_ms?: number;
  /** When the cool-down lets one task through (set unless closed). */
  retry_at_ms?: number;
}

/** A bus envelope's `trace` (W3C ids: a 32-hex trace id, 16-hex span ids). */
export interface EventTrace {
  /** The task's trace id: its envelope's `correlation_id`. */
  correlation_id?: string;
  /** The span the event belongs to: its lease's, or the submission's. */
  span_id?: string;
  /** The submission's span, when `span_id` is a lease's. */
  parent_id?: string;
}

/**
 * One event of `/v1/events`, as the SDK hands it out: `topic` is an event name such as
 * `compute:dispatch:v1:progress` (or the return channel); `payload` is the JSON view of that
 * event's message. The wire carries bus envelopes (`{ id, type, topic, ts, schema, payload:
 * { task_id, campaign_id?, state, event?, data }, trace }`); the SDK lifts the task's fields out
 * of `payload` so that this shape stays what it was before them, plus `id`, `schema` and `trace`.
 */
export interface TaskEvent {
  topic: string;
  task_id: string;
  campaign_id?: string;
  ts: string | number;
  state: TaskState;
  payload: JsonObject;
  /** The bus envelope's id (absent on events the SDK made itself while polling). */
  id?: string;
  /** The payload's schema, e.g. `flock.task.event.v1`. */
  schema?: string;
  trace?: EventTrace;
  /** On a return channel (`topic` is the channel): the event's own name. */
  event?: string;
}

/** One API key of `GET /v1/keys` (never its secret). Times are Unix epoch ms. */
export interface KeyView {
  /** `k-…`: what `revokeKey` names. */
  key_id: string;
  tenant: string;
  /** `read`, `submit`, `cancel`, `admin`, `can_submit:<op pattern>`. */
  scopes: string[];
  name?: string;
  created_at_ms: number;
  /** Set once revoked: the key is refused from then on. */
  revoked_at_ms?: number;
  /** A signing key (made with `signing: true`): its tasks must carry `security.task_token`. */
  signing?: boolean;
}

/** What `POST /v1/keys` answers: the key and its secret, which is shown this once. */
export interface CreatedKey extends KeyView {
  key: string;
  /** With `signing: true`: the secret its tasks are signed with (`signingSecret`), shown this once. */
  signing_secret?: string;
}

/** One POST of a webhook delivery (`GET /v1/webhooks/deliveries`). Times are Unix epoch ms. */
export interface WebhookAttempt {
  n: number;
  at_ms: number;
  /** The receiver's HTTP status; absent when none came (network error, timeout). */
  status?: number;
  /** Why it did not deliver (`HTTP 500`, `ECONNREFUSED: ...`); absent on a 2xx. */
  error?: string;
}

/** A task's (or workflow's) terminal event posted to its `return_channel` URL, with its attempts. */
export interface WebhookDelivery {
  id: number;
  task_id: string;
  /** The event's topic (`compute:dispatch:v1:success`, ...). */
  event: string;
  url: string;
  state: 'pending' | 'delivered' | 'failed';
  created_at_ms: number;
  /** When the next attempt is due (pending only). */
  next_attempt_at_ms?: number;
  attempts: WebhookAttempt[];
}

/** Which of the tenant's webhook deliveries `FlockClient.webhookDeliveries` reads (one page). */
export interface WebhookDeliveryQuery {
  state: WebhookDelivery['state'];
  /** Deliveries made at or after this time: ISO 8601 or epoch milliseconds. */
  since?: string | number;
  /** Deliveries per page, 1..1000 (default 100). */
  limit?: number;
  /** The previous page's `next`. */
  after?: string;
}

/** One page of deliveries by state, oldest (lowest id) first. */
export interface WebhookDeliveryPage {
  deliveries: WebhookDelivery[];
  /** The cursor of the next page, absent on the last. */
  next?: string;
}
