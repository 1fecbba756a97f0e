// A handle on one workflow (`POST /v1/workflows`): its status, its events, its steps' results.
import type { ComputeResult, JsonObject } from '@flock/protocol';
import type { TaskEvent, TaskState } from './api-types.ts';
import type { EventStream } from './event-stream.ts';
import { FlockError } from './flock-error.ts';
import type { WaitOptions, WatchOptions } from './task.ts';

export type WorkflowState = 'running' | 'succeeded' | 'failed' | 'cancelled';
export type StepState = 'waiting' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';

/** One step as `GET /v1/workflows/:id` shows it (WORKFLOWS.md in the coordinator). */
export interface WorkflowStepView {
  id: string;
  state: StepState;
  /** The steps it waits for (the DAG's edges). */
  depends_on: string[];
  /** Every task the step ran: `<workflow_id>.<step>`, branches `.<i>`, retries `.retry<n>`. */
  task_ids: string[];
  code?: string;
  message?: string;
  started_at_ms?: number;
  finished_at_ms?: number;
  /** for_each steps: the number of branches. */
  branches?: number;
  compensation?: { task_id: string; state: TaskState | 'waiting' };
}

export interface WorkflowView {
  workflow_id: string;
  state: WorkflowState;
  created_at_ms: number;
  finished_at_ms?: number;
  code?: string;
  message?: string;
  /** `GET` answers carry the steps; the answer to `POST` carries the stored definition instead. */
  steps?: WorkflowStepView[];
  definition?: JsonObject;
}

/** What a Workflow needs of its client (FlockClient implements it). */
export interface WorkflowBackend {
  getWorkflow(workflowId: string, signal?: AbortSignal): Promise<WorkflowView>;
  cancelWorkflow(workflowId: string): Promise<WorkflowView>;
  fetchResult(taskId: string, signal?: AbortSignal): Promise<ComputeResult>;
  tryOpenEvents(filter: { task_id?: string; campaign_id?: string }): Promise<EventStream | undefined>;
}

const PREFIX = 'compute:workflow:v1:';
const FINAL = new Set<string>(['succeeded', 'failed', 'cancelled']);

/** A handle on one workflow: watch it, wait for it, read its steps' results, cancel it. */
export class Workflow {
  readonly id: string;
  #backend: WorkflowBackend;
  /** The last view fetched, if any. */
  view: WorkflowView | undefined;

  constructor(backend: WorkflowBackend, workflowId: string, view?: WorkflowView) {
    this.#backend = backend;
    this.id = workflowId;
    this.view = view;
  }

  /** The workflow with each step's state (`GET /v1/workflows/:id`). */
  async status(signal?: AbortSignal): Promise<WorkflowView> {
    this.view = await this.#backend.getWorkflow(this.id, signal);
    return this.view;
  }

  /**
   * The workflow's events from now until it ends: `compute:workflow:v1:step` (payload `{
   * workflow_id, step }`) as steps change, then `compute:workflow:v1:<state>`. From `/v1/events`;
   * without a socket the workflow is polled and changes are reported as the same events.
   */
  async *events(options: WatchOptions = {}): AsyncGenerator<TaskEvent, void, undefined> {
    let stream = await this.#backend.tryOpenEvents({ campaign_id: this.id });
    try {
      let last = await this.status(options.signal);
      if (FINAL.has(last.state)) return yield workflowEvent(last);
      for (;;) {
        const pollMs = options.pollMs ?? (stream === undefined ? 1000 : 5000);
        const next =
          stream === undefined
            ? await pause(pollMs, options.signal)
            : await stream.take(pollMs, options.signal);
        if ('event' in next) {
          if (!next.event.topic.startsWith(PREFIX)) continue;
          yield next.event;
          if (FINAL.has(next.event.topic.slice(PREFIX.length))) return;
          continue;
        }
        if ('closed' in next) stream = undefined;
        const now = await this.status(options.signal);
        for (const step of changedSteps(last, now)) yield stepEvent(now, step);
        last = now;
        if (FINAL.has(now.state)) return yield workflowEvent(now);
      }
    } finally {
      stream?.close();
    }
  }

  /** Resolves with the final view once the workflow has ended. */
  async wait(options: WaitOptions = {}): Promise<WorkflowView> {
    const timeout = options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
    const signal = AbortSignal.any(
      [options.signal, timeout].filter((s): s is AbortSignal => s !== undefined),
    );
    try {
      for await (const _event of this.events({ ...options, signal })) {
        // Drained: the iterator ends when the workflow does.
      }
      return await this.status(signal);
    } catch (error) {
      if (options.signal?.aborted !== true && signal.aborted)
        throw new FlockError(
          'WAIT_TIMEOUT',
          `workflow ${this.id} did not end within ${options.timeoutMs} ms`,
          { cause: error },
        );
      throw error;
    }
  }

  /**
   * Waits for the workflow, then the result of each step that succeeded, by step id (a for_each
   * step's branches as `<step>.<i>`). Throws `WORKFLOW_FAILED` or `WORKFLOW_CANCELLED`.
   */
  async result(options: WaitOptions = {}): Promise<Record<string, ComputeResult>> {
    const view = await this.wait(options);
    if (view.state === 'failed')
      throw new FlockError('WORKFLOW_FAILED', `workflow ${this.id} failed: ${view.code}: ${view.message}`, {
        failure: { code: view.code ?? 'STEP_FAILED', message: view.message ?? '' },
      });
    if (view.state === 'cancelled')
      throw new FlockError('WORKFLOW_CANCELLED', `workflow ${this.id} was cancelled`);
    const results: Record<string, ComputeResult> = {};
    for (const step of view.steps ?? []) {
      if (step.state !== 'succeeded') continue;
      if (step.branches === undefined) {
        results[step.id] = await this.#backend.fetchResult(step.task_ids.at(-1)!, options.signal);
        continue;
      }
      // A branch's last attempt is its last task id with that branch prefix.
      for (let i = 0; i < step.branches; i++) {
        const prefix = `${this.id}.${step.id}.${i}`;
        const taskId = step.task_ids.filter((t) => t === prefix || t.startsWith(`${prefix}.retry`)).at(-1)!;
        results[`${step.id}.${i}`] = await this.#backend.fetchResult(taskId, options.signal);
      }
    }
    return results;
  }

  /** Cancels the workflow and its running steps; `ALREADY_FINISHED` if it ended. */
  async cancel(): Promise<WorkflowView> {
    this.view = await this.#backend.cancelWorkflow(this.id);
    return this.view;
  }
}

function changedSteps(before: WorkflowView, after: WorkflowView): WorkflowStepView[] {
  const was = new Map((before.steps ?? []).map((s) => [s.id, s.state]));
  return (after.steps ?? []).filter((s) => was.get(s.id) !== s.state);
}

const TASK_STATE: Record<StepState, TaskState> = {
  waiting: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  skipped: 'cancelled',
  cancelled: 'cancelled',
};

function stepEvent(view: WorkflowView, step: WorkflowStepView): TaskEvent {
  return {
    topic: `${PREFIX}step`,
    task_id: view.workflow_id,
    campaign_id: view.workflow_id,
    ts: Date.now(),
    state: TASK_STATE[step.state],
    payload: { workflow_id: view.workflow_id, step: step as unknown as JsonObject },
  };
}

function workflowEvent(view: WorkflowView): TaskEvent {
  const { steps: _steps, definition: _definition, ...payload } = view;
  return {
    topic: `${PREFIX}${view.state}`,
    task_id: view.workflow_id,
    campaign_id: view.workflow_id,
    ts: view.finished_at_ms ?? view.created_at_ms,
    state: view.state === 'running' ? 'running' : view.state,
    payload: payload as unknown as JsonObject,
  };
}

async function pause(ms: number, signal: AbortSignal | undefined): Promise<{ timeout: true }> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new FlockError('ABORTED', 'aborted'));
    });
  });
  return { timeout: true };
}
