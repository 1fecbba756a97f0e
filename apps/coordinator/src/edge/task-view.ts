import { storedCorrelationId } from '../engine/open-task.ts';
import type { AttemptRecord, TaskRecord, TaskState } from '../store/store.ts';

/** The task view of Contract B (`GET /v1/tasks/:id`). */
export interface TaskView {
  task_id: string;
  tenant: string;
  campaign_id?: string;
  /** Its trace id (its envelope's; #19). */
  correlation_id?: string;
  op: string;
  module_kind: string;
  state: TaskState;
  created_at_ms: number;
  updated_at_ms: number;
  progress?: { pct: number; metrics: Record<string, string> };
  waiting_reason?: string;
  failure?: { code: string; message: string };
  attempts: Array<{
    attempt: number;
    worker_id: string;
    lease_id: string;
    started_at_ms: number;
    ended_at_ms?: number;
    outcome?: string;
    code?: string;
  }>;
  result_available: boolean;
  executor?: string;
  duration_ms?: number;
  /** Tasks with a verification policy: how far verification has come (TRUST.md). */
  verification?: {
    state: 'pending' | 'accepted' | 'failed';
    mode: 'fixed' | 'adaptive';
    quorum: number;
    max_replicas: number;
    dispatched: number;
    /** Replicas running now (they run at once, each on its own worker). */
    running: number;
    returned: number;
    agreeing: number;
    accepted_by?: 'quorum' | 'trusted' | 'single';
    /** Workers that ran or run a replica (only the first replica is a stored attempt). */
    workers: string[];
  };
}

export function taskView(
  task: TaskRecord,
  attempts: AttemptRecord[],
  waitingReason: string | undefined,
): TaskView {
  const view: TaskView = {
    task_id: task.taskId,
    tenant: task.tenant,
    op: task.op,
    module_kind: task.moduleKind,
    state: task.state,
    created_at_ms: task.createdAtMs,
    updated_at_ms: task.updatedAtMs,
    attempts: attempts.map((a) => {
      const out: TaskView['attempts'][number] = {
        attempt: a.attempt,
        worker_id: a.workerId,
        lease_id: a.leaseId,
        started_at_ms: a.startedAtMs,
      };
      if (a.endedAtMs !== undefined) out.ended_at_ms = a.endedAtMs;
      if (a.outcome !== undefined) out.outcome = a.outcome;
      if (a.code !== undefined) out.code = a.code;
      return out;
    }),
    result_available: task.state === 'succeeded' && task.result !== undefined,
  };
  if (task.campaignId !== undefined) view.campaign_id = task.campaignId;
  const correlation = storedCorrelationId(task.envelope);
  if (correlation !== undefined) view.correlation_id = correlation;
  if (task.progress !== undefined && task.state === 'running') view.progress = task.progress;
  if (waitingReason !== undefined && task.state === 'queued') view.waiting_reason = waitingReason;
  if (task.failureCode !== undefined && (task.state === 'failed' || task.state === 'cancelled')) {
    view.failure = { code: task.failureCode, message: task.failureMessage ?? '' };
  }
  if (task.executor !== undefined) view.executor = task.executor;
  if (task.durationMs !== undefined) view.duration_ms = task.durationMs;
  return view;
}
