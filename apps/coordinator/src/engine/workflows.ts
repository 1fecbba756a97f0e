// Workflows (WORKFLOWS.md): the advancer. A workflow's steps are ordinary tasks with deterministic
// ids in the campaign named by the workflow id; whenever one of them ends (and once per unfinished
// workflow at start) the advancer loads them, asks workflow-plan.ts what follows, and does it:
// submits ready steps (a duplicate id is the same task, so nothing runs twice), cancels, finishes.
import { campaignTraceId } from '@flock/protocol';
import { isWebhookChannel } from '../edge/webhook-targets.ts';
import { CoordinatorError } from '../errors.ts';
import type { TaskRecord, TaskState } from '../store/store.ts';
import type { WorkflowRecord, WorkflowState } from '../store/workflow-store.ts';
import type { Engine } from './engine.ts';
import { parseWorkflow, type WorkflowDef } from './workflow-definition.ts';
import {
  addTiming,
  type Plan,
  planWorkflow,
  type StepState,
  type StepTask,
  type StepView,
  type Submit,
} from './workflow-plan.ts';
import type { StepOutputs } from './workflow-resolve.ts';

/** Event topics: `compute:workflow:v1:<state>` for the workflow, `compute:workflow:v1:step` per step change. */
export const workflowTopic = (state: WorkflowState | 'step'): string => `compute:workflow:v1:${state}`;

/** A running workflow this process advances. */
interface Active {
  tenant: string;
  workflowId: string;
  def: WorkflowDef;
  advancing: boolean;
  again: boolean;
  timer: NodeJS.Timeout | undefined;
  /** Each step's last announced state. */
  announced: Map<string, StepState>;
  /**
   * The workflow's tasks as last read, by id: loaded whole once, then only the tasks that ended
   * since (`ended`) and the ones created since (`maxUid`), so a pass costs what changed.
   */
  tasks: Map<string, StepTask> | undefined;
  maxUid: number;
  ended: Set<string>;
}

/** A workflow as `GET /v1/workflows/:id` shows it. */
export interface WorkflowStatus {
  record: WorkflowRecord;
  steps: StepView[];
}

const STEP_EVENT_STATE: Record<StepState, TaskState> = {
  waiting: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  skipped: 'cancelled',
  cancelled: 'cancelled',
};

const TASK_PAGE = 1000;

export class Workflows {
  private readonly active = new Map<string, Active>();

  constructor(private readonly e: Engine) {}

  /** A stored definition, parsed again (it was checked when it was submitted). */
  private parse(record: WorkflowRecord): WorkflowDef {
    return parseWorkflow(JSON.parse(record.definition), () => record.workflowId, true);
  }

  /** Stores a new workflow and starts it; the same id and definition again is `existing`. */
  async create(
    tenant: string,
    def: WorkflowDef,
    definition: string,
    contentHash: string,
  ): Promise<{ kind: 'created' | 'existing'; record: WorkflowRecord }> {
    // Its steps are the tasks of the campaign named by its id: a campaign that already has tasks
    // would lend them to the steps (a task id taken is the same task), results and all.
    if ((await this.e.store.workflowStore().get(tenant, def.workflowId)) === undefined) {
      const [taken] = await this.e.store.listTasks(tenant, { campaignId: def.workflowId, limit: 1 });
      if (taken)
        throw new CoordinatorError(
          'CONFLICT',
          `campaign "${def.workflowId}" already has tasks (${taken.taskId}): a workflow's steps are the tasks of the campaign named by its id`,
          'workflow_id',
        );
    }
    // Before it is stored: its webhook outbox row (edge/webhook-outbox.ts).
    if (isWebhookChannel(def.returnChannel)) {
      const armed = { tenant, taskId: def.workflowId, kind: 'workflow' as const, armedAtMs: Date.now() };
      await this.e.store.webhookStore().arm([armed]);
    }
    const outcome = await this.e.store.workflowStore().insert({
      tenant,
      workflowId: def.workflowId,
      definition,
      contentHash,
      createdAtMs: Date.now(),
    });
    if (outcome.kind === 'conflict')
      throw new CoordinatorError(
        'CONFLICT',
        `workflow "${def.workflowId}" exists with another definition`,
        'workflow_id',
      );
    if (outcome.kind === 'created') {
      this.publishWorkflow(outcome.workflow, 'running', def);
      this.track(outcome.workflow, def);
    }
    return { kind: outcome.kind, record: outcome.workflow };
  }

  /** Every unfinished workflow of the store, advanced once (recovery after a restart). */
  async recover(): Promise<number> {
    const records = await this.e.store.workflowStore().unfinished();
    for (const record of records) this.track(record, this.parse(record));
    return records.length;
  }

  /**
   * Takes over running workflows not advanced here that have stayed stalled (none of their tasks
   * queued or running) for `graceMs`: on a shared store, those of a coordinator that is gone.
   * Advancing a workflow twice is safe (ids are deterministic, the final write is guarded); the
   * grace keeps the pause between two steps of a live coordinator's workflow from counting.
   * Returns how many it took.
   */
  async adoptStalled(graceMs: number, limit = 100): Promise<number> {
    const now = Date.now();
    const seen = new Map<string, number>();
    let adopted = 0;
    for (const record of await this.e.store.workflowStore().stalled(now - graceMs, limit)) {
      const k = key(record.tenant, record.workflowId);
      if (this.e.closed || this.active.has(k)) continue;
      const since = this.suspects.get(k) ?? now;
      seen.set(k, since);
      if (now - since < graceMs) continue;
      seen.delete(k);
      this.track(record, this.parse(record));
      adopted += 1;
    }
    this.suspects = seen;
    return adopted;
  }

  /** Workflows seen stalled by `adoptStalled`, since when. */
  private suspects = new Map<string, number>();

  stop(): void {
    for (const a of this.active.values()) clearTimeout(a.timer);
    this.active.clear();
  }

  /** A task ended: when it is a step of a workflow advanced here, that workflow advances. */
  taskEnded(tenant: string, campaignId: string | undefined, taskId: string): void {
    if (campaignId === undefined || this.active.size === 0) return;
    const a = this.active.get(key(tenant, campaignId));
    if (!a) return;
    a.ended.add(taskId);
    this.schedule(a);
  }

  /** The workflow and its steps' states, or undefined when the tenant has none by that id. */
  async status(tenant: string, workflowId: string): Promise<WorkflowStatus | undefined> {
    const record = await this.e.store.workflowStore().get(tenant, workflowId);
    if (!record) return undefined;
    const input = await this.planInput(tenant, this.parse(record));
    const plan = planWorkflow(input);
    addTiming(plan.steps, input.tasks);
    if (record.state === 'cancelled') {
      for (const v of plan.steps) if (v.state === 'waiting' || v.state === 'running') v.state = 'cancelled';
    }
    return { record, steps: plan.steps };
  }

  /** Cancels a running workflow: stored first, then its open step tasks are cancelled. */
  async cancel(tenant: string, workflowId: string): Promise<WorkflowRecord> {
    const store = this.e.store.workflowStore();
    const record = await store.get(tenant, workflowId);
    if (!record) throw new CoordinatorError('NOT_FOUND', `no workflow "${workflowId}"`);
    const now = Date.now();
    const ok = await store.finish({
      tenant,
      workflowId,
      state: 'cancelled',
      code: 'CANCELLED',
      message: 'cancelled by its requester',
      nowMs: now,
    });
    if (!ok) throw new CoordinatorError('ALREADY_FINISHED', `workflow is ${record.state}`);
    // What was announced here (nothing when another coordinator advances it).
    const announced = this.active.get(key(tenant, workflowId))?.announced ?? new Map<string, StepState>();
    this.untrack(key(tenant, workflowId));
    for (const t of await this.tasksOf(tenant, workflowId)) {
      if (t.state === 'queued' || t.state === 'running')
        await this.e.transitions.cancel(t, 'WORKFLOW_CANCELLED');
    }
    const finished = (await store.get(tenant, workflowId))!;
    const def = this.parse(finished);
    // The steps it stopped end too, before the workflow does, as the advancer would announce them.
    const stopped =
      (await this.status(tenant, workflowId))?.steps.filter((v) => v.state === 'cancelled') ?? [];
    this.announce(tenant, def, stopped, announced);
    this.publishWorkflow(finished, 'cancelled', def);
    return finished;
  }

  private track(record: WorkflowRecord, def: WorkflowDef): void {
    const a: Active = {
      tenant: record.tenant,
      workflowId: record.workflowId,
      def,
      advancing: false,
      again: false,
      timer: undefined,
      announced: new Map(),
      tasks: undefined,
      maxUid: 0,
      ended: new Set(),
    };
    this.active.set(key(a.tenant, a.workflowId), a);
    this.schedule(a);
  }

  /** Whether this process advances the workflow (it is running and tracked here). */
  advances(tenant: string, workflowId: string): boolean {
    return this.active.has(key(tenant, workflowId));
  }

  private untrack(k: string): void {
    const a = this.active.get(k);
    if (a) clearTimeout(a.timer);
    this.active.delete(k);
  }

  /** Advances soon; events that arrive while it runs coalesce into one more pass. */
  private schedule(a: Active): void {
    if (a.advancing) {
      a.again = true;
      return;
    }
    a.advancing = true;
    setImmediate(() => void this.run(a));
  }

  private async run(a: Active): Promise<void> {
    try {
      do {
        a.again = false;
        if (this.e.closed || this.active.get(key(a.tenant, a.workflowId)) !== a) return;
        await this.advance(a);
      } while (a.again);
    } catch (err) {
      this.e.log.error({ err, workflow: a.workflowId }, 'workflow advance failed');
    } finally {
      a.advancing = false;
    }
  }

  private async advance(a: Active): Promise<void> {
    // Ended elsewhere (cancelled through another coordinator of a shared store): nothing more.
    const record = await this.e.store.workflowStore().get(a.tenant, a.workflowId);
    if (record?.state !== 'running') return this.untrack(key(a.tenant, a.workflowId));
    const plan = planWorkflow({
      def: a.def,
      tasks: await this.refresh(a),
      nowMs: Date.now(),
      readBlob: (hex: string) => this.e.blobs.read(hex),
    });
    this.announce(a.tenant, a.def, plan.steps, a.announced);
    if (plan.outcome) return this.finish(a, plan.outcome);
    for (const taskId of plan.cancel) {
      const rec = await this.e.store.getTask(a.tenant, taskId);
      if (rec) await this.e.transitions.cancel(rec, 'WORKFLOW_FAILED');
    }
    if (plan.submit.length > 0) await this.submit(a, plan.submit);
    clearTimeout(a.timer);
    if (plan.retryAtMs !== undefined) {
      a.timer = setTimeout(() => this.schedule(a), Math.max(0, plan.retryAtMs - Date.now()));
      a.timer.unref();
    }
  }

  /** Stores the blobs the steps read, then submits them (the plan has checked their envelopes). */
  private async submit(a: Active, submits: Submit[]): Promise<void> {
    const now = Date.now();
    const items = [];
    for (const s of submits) {
      for (const blob of s.resolved.blobs) {
        this.e.blobs.put(blob.bytes);
        await this.e.store.recordBlob(`sha256:${blob.hex}`, a.tenant, 'output', blob.bytes.length, now);
      }
      // The steps share their workflow's trace: the campaign's, derived in intake (#19).
      items.push({ tenant: a.tenant, envelope: s.task, field: `steps.${s.stepId}` });
    }
    const outcomes = await this.e.intake.submit(items);
    for (const o of outcomes) {
      if (o.kind === 'conflict')
        this.e.log.error({ task: o.taskId }, 'workflow step exists with other content');
    }
  }

  private async finish(a: Active, outcome: NonNullable<Plan['outcome']>): Promise<void> {
    this.untrack(key(a.tenant, a.workflowId));
    const store = this.e.store.workflowStore();
    const ok = await store.finish({
      tenant: a.tenant,
      workflowId: a.workflowId,
      state: outcome.state,
      code: outcome.code,
      message: outcome.message,
      nowMs: Date.now(),
    });
    const record = await store.get(a.tenant, a.workflowId);
    if (ok && record) this.publishWorkflow(record, outcome.state, a.def);
  }

  private async planInput(tenant: string, def: WorkflowDef) {
    const tasks = new Map<string, StepTask>();
    for (const rec of await this.tasksOf(tenant, def.workflowId)) tasks.set(rec.taskId, stepTask(rec));
    return { def, tasks, nowMs: Date.now(), readBlob: (hex: string) => this.e.blobs.read(hex) };
  }

  /** The active workflow's tasks: read whole the first time, then what ended or appeared since. */
  private async refresh(a: Active): Promise<Map<string, StepTask>> {
    const ended = [...a.ended];
    a.ended.clear();
    const fresh = a.tasks === undefined;
    a.tasks ??= new Map();
    if (!fresh) {
      for (const taskId of ended) {
        const rec = await this.e.store.getTask(a.tenant, taskId);
        if (rec) a.tasks.set(taskId, stepTask(rec));
      }
    }
    for (const rec of await this.tasksOf(a.tenant, a.workflowId, a.maxUid)) {
      a.tasks.set(rec.taskId, stepTask(rec));
      a.maxUid = Math.max(a.maxUid, rec.uid);
    }
    return a.tasks;
  }

  private async tasksOf(tenant: string, workflowId: string, after = 0): Promise<TaskRecord[]> {
    const all: TaskRecord[] = [];
    for (let afterUid = after; ; ) {
      const page = await this.e.store.listTasks(tenant, {
        campaignId: workflowId,
        afterUid,
        limit: TASK_PAGE,
      });
      all.push(...page);
      if (page.length < TASK_PAGE) return all;
      afterUid = page[page.length - 1]!.uid;
    }
  }

  /** Publishes each step whose state is not the one last announced (`announced`, updated). */
  private announce(
    tenant: string,
    def: WorkflowDef,
    steps: StepView[],
    announced: Map<string, StepState>,
  ): void {
    const now = Date.now();
    for (const v of steps) {
      if (announced.get(v.id) === v.state) continue;
      announced.set(v.id, v.state);
      this.e.events.publish({
        topic: workflowTopic('step'),
        tenant,
        taskId: def.workflowId,
        campaignId: def.workflowId,
        returnChannel: def.returnChannel,
        state: STEP_EVENT_STATE[v.state],
        tsMs: now,
        payload: () => ({ workflow_id: def.workflowId, step: stepJson(v) }),
        traceId: campaignTraceId(tenant, def.workflowId),
      });
    }
  }

  private publishWorkflow(record: WorkflowRecord, state: WorkflowState, def: WorkflowDef): void {
    this.e.events.publish({
      topic: workflowTopic(state),
      tenant: record.tenant,
      taskId: record.workflowId,
      campaignId: record.workflowId,
      returnChannel: def.returnChannel,
      state,
      tsMs: record.finishedAtMs ?? record.createdAtMs,
      payload: () => workflowJson(record),
      traceId: campaignTraceId(record.tenant, record.workflowId),
    });
  }
}

const key = (tenant: string, workflowId: string): string => `${tenant}\n${workflowId}`;

/** The plan's view of a stored task. */
function stepTask(rec: TaskRecord): StepTask {
  let result: StepOutputs | undefined;
  if (rec.state === 'succeeded' && rec.result) {
    const json = JSON.parse(Buffer.from(rec.result).toString('utf8')) as Partial<StepOutputs>;
    result = { outputs: json.outputs ?? [], summary: json.summary ?? {} };
  }
  return {
    state: rec.state,
    createdAtMs: rec.createdAtMs,
    updatedAtMs: rec.updatedAtMs,
    code: rec.failureCode,
    message: rec.failureMessage,
    result,
  };
}

/** The JSON view of a workflow's row. */
export function workflowJson(record: WorkflowRecord): Record<string, unknown> {
  return {
    workflow_id: record.workflowId,
    state: record.state,
    created_at_ms: record.createdAtMs,
    ...(record.finishedAtMs !== undefined ? { finished_at_ms: record.finishedAtMs } : {}),
    ...(record.code !== undefined ? { code: record.code } : {}),
    ...(record.message !== undefined ? { message: record.message } : {}),
  };
}

/** The JSON view of a step. */
export function stepJson(v: StepView): Record<string, unknown> {
  return {
    id: v.id,
    state: v.state,
    depends_on: v.dependsOn,
    task_ids: v.taskIds,
    ...(v.code !== undefined ? { code: v.code } : {}),
    ...(v.message !== undefined ? { message: v.message } : {}),
    ...(v.startedAtMs !== undefined ? { started_at_ms: v.startedAtMs } : {}),
    ...(v.finishedAtMs !== undefined ? { finished_at_ms: v.finishedAtMs } : {}),
    ...(v.branches !== undefined ? { branches: v.branches } : {}),
    ...(v.compensation
      ? { compensation: { task_id: v.compensation.taskId, state: v.compensation.state } }
      : {}),
  };
}
