// The advancer's brain: a workflow's state as a pure function of its definition and the states of
// its step tasks (deterministic ids, WORKFLOWS.md). Given them, it says what each step is, which
// tasks to submit now (references resolved), which to cancel, when a retry falls due, and
// whether the workflow has finished. No I/O: the caller (workflows.ts) loads and acts.
import type { ComputeEnvelope } from '@flock/protocol';
import type { TaskState } from '../store/store.ts';
import { MAX_FOR_EACH_BRANCHES, type WorkflowDef, type WorkflowStep } from './workflow-definition.ts';
import { compare, parseCondition } from './workflow-refs.ts';
import {
  forEachItems,
  type Item,
  type Resolved,
  ResolveError,
  resolveEnvelope,
  type StepOutputs,
  stepTask,
  summaryValue,
} from './workflow-resolve.ts';

export type StepState = 'waiting' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';

/** A step task as the plan needs it (from its stored record). */
export interface StepTask {
  state: TaskState;
  createdAtMs: number;
  updatedAtMs: number;
  code: string | undefined;
  message: string | undefined;
  /** Parsed from the stored result once succeeded. */
  result: StepOutputs | undefined;
}

export interface StepView {
  id: string;
  state: StepState;
  /** The step's dependencies (from the definition), for drawing the DAG. */
  dependsOn: readonly string[];
  /** Every task the step ran (attempts, branches), in order. */
  taskIds: string[];
  code?: string;
  message?: string;
  startedAtMs?: number;
  finishedAtMs?: number;
  /** for_each steps: how many branches. */
  branches?: number;
  compensation?: { taskId: string; state: TaskState | 'waiting' };
}

export interface Submit {
  stepId: string;
  taskId: string;
  resolved: Resolved;
  /** The task to submit: the resolved envelope with its id and campaign, checked. */
  task: ComputeEnvelope;
}

export interface Plan {
  steps: StepView[];
  submit: Submit[];
  cancel: string[];
  /** The earliest retry that is not due yet (epoch ms). */
  retryAtMs: number | undefined;
  /** Set once the workflow has finished. */
  outcome: { state: 'succeeded' | 'failed'; code?: string; message?: string } | undefined;
}

export interface PlanInput {
  def: WorkflowDef;
  tasks: ReadonlyMap<string, StepTask>;
  nowMs: number;
  readBlob: (hex: string) => Uint8Array | undefined;
}

const OPEN = new Set<TaskState>(['queued', 'running']);

/** The task id of a step's attempt (0: the first) of branch `branch` (for_each) or the step itself. */
export function stepTaskId(workflowId: string, stepId: string, branch?: number, attempt = 0): string {
  const base = branch === undefined ? `${workflowId}.${stepId}` : `${workflowId}.${stepId}.${branch}`;
  return attempt === 0 ? base : `${base}.retry${attempt}`;
}

export const compensationTaskId = (workflowId: string, stepId: string): string =>
  `${workflowId}.${stepId}.compensate`;

/** What one attempt chain (a step, or one branch) amounts to. */
interface Chain {
  state: 'missing' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  taskIds: string[];
  last: StepTask | undefined;
  /** The next attempt's id and when it is due (missing: due now). */
  next?: { taskId: string; dueAtMs: number };
}

function chainOf(input: PlanInput, step: WorkflowStep, branch: number | undefined): Chain {
  const policy = step.onError;
  const taskIds: string[] = [];
  let last: StepTask | undefined;
  for (let attempt = 0; ; attempt++) {
    const taskId = stepTaskId(input.def.workflowId, step.id, branch, attempt);
    const task = input.tasks.get(taskId);
    if (!task) {
      const backoff = policy.kind === 'retry' ? policy.backoffMs * 2 ** (attempt - 1) : 0;
      const dueAtMs = attempt === 0 || !last ? input.nowMs : last.updatedAtMs + backoff;
      return { state: 'missing', taskIds, last, next: { taskId, dueAtMs } };
    }
    taskIds.push(taskId);
    last = task;
    if (OPEN.has(task.state)) return { state: 'running', taskIds, last };
    if (task.state === 'succeeded') return { state: 'succeeded', taskIds, last };
    const retries = policy.kind === 'retry' ? policy.attempts : 0;
    if (attempt >= retries)
      return { state: task.state === 'cancelled' ? 'cancelled' : 'failed', taskIds, last };
  }
}

/** Working state of one evaluation. */
class Evaluation {
  readonly views = new Map<string, StepView>();
  readonly results = new Map<string, StepOutputs>();
  readonly submit: Submit[] = [];
  readonly open: string[] = [];
  /** Steps with a task to submit now (shown running; cancelled instead when the workflow fails). */
  readonly wanted = new Set<string>();
  retryAtMs: number | undefined;

  constructor(readonly input: PlanInput) {}

  /**
   * Queues the chain's next attempt when due (resolving the template; its id joins the chain's
   * task ids, so the step's view and event name it), else notes when it is.
   */
  want(step: WorkflowStep, chain: Chain, item: Item | undefined): ResolveError | undefined {
    const next = chain.next!;
    if (next.dueAtMs > this.input.nowMs) {
      this.retryAtMs = Math.min(this.retryAtMs ?? Number.POSITIVE_INFINITY, next.dueAtMs);
      return undefined;
    }
    try {
      const resolved = resolveEnvelope(step.envelope, { results: (id) => this.results.get(id), item });
      const task = stepTask(resolved, next.taskId, this.input.def.workflowId);
      this.submit.push({ stepId: step.id, taskId: next.taskId, resolved, task });
      this.wanted.add(step.id);
      chain.taskIds.push(next.taskId);
      return undefined;
    } catch (err) {
      if (err instanceof ResolveError) return err;
      throw err;
    }
  }
}

/** Topological order of the steps (the definition is a DAG; ties keep definition order). */
function topological(def: WorkflowDef): WorkflowStep[] {
  const byId = new Map(def.steps.map((s) => [s.id, s]));
  const done = new Set<string>();
  const order: WorkflowStep[] = [];
  const visit = (s: WorkflowStep): void => {
    if (done.has(s.id)) return;
    done.add(s.id);
    for (const d of s.dependsOn) visit(byId.get(d)!);
    order.push(s);
  };
  for (const s of def.steps) visit(s);
  return order;
}

export function planWorkflow(input: PlanInput): Plan {
  const ev = new Evaluation(input);
  for (const step of topological(input.def)) ev.views.set(step.id, evaluateStep(ev, step));
  const steps = input.def.steps.map((s) => ev.views.get(s.id)!);
  const failed = steps.filter((v) => v.state === 'failed' || v.state === 'cancelled');
  if (failed.length === 0) {
    const done = steps.every((v) => v.state === 'succeeded' || v.state === 'skipped');
    return {
      steps,
      submit: ev.submit,
      cancel: [],
      retryAtMs: ev.retryAtMs,
      outcome: done ? { state: 'succeeded' } : undefined,
    };
  }
  return failing(ev, steps, failed);
}

/** A step failed under abort or rollback: cancel what runs, compensate, then fail. */
function failing(ev: Evaluation, steps: StepView[], failed: StepView[]): Plan {
  const base = { steps, retryAtMs: undefined };
  // Nothing new starts: a step with no task left running (due, waiting out a retry's backoff, or
  // waiting for its dependencies) is cancelled, so the view and the step events end it.
  const open = new Set(ev.open);
  for (const v of steps) {
    const live = v.state === 'running' && v.taskIds.some((id) => open.has(id));
    if ((v.state === 'running' || v.state === 'waiting') && !live) v.state = 'cancelled';
  }
  if (ev.open.length > 0) return { ...base, submit: [], cancel: ev.open, outcome: undefined };
  // The cause: a step that failed, rather than one cancelled because of it.
  const first = failed.find((v) => v.state === 'failed') ?? failed[0]!;
  const outcome = {
    state: 'failed' as const,
    code: 'STEP_FAILED',
    message: `step "${first.id}" ${first.state}${first.code ? `: ${first.code}` : ''}${first.message ? `: ${first.message}` : ''}`,
  };
  const byId = new Map(ev.input.def.steps.map((s) => [s.id, s]));
  const rollback = failed.some((v) => byId.get(v.id)!.onError.kind === 'rollback');
  if (!rollback) return { ...base, submit: [], cancel: [], outcome };
  for (const step of [...ev.input.def.steps].reverse()) {
    const view = ev.views.get(step.id)!;
    if (!step.compensate || view.state !== 'succeeded') continue;
    const taskId = compensationTaskId(ev.input.def.workflowId, step.id);
    const task = ev.input.tasks.get(taskId);
    view.compensation = { taskId, state: task?.state ?? 'waiting' };
    if (task && !OPEN.has(task.state)) continue;
    if (task) return { ...base, submit: [], cancel: [], outcome: undefined };
    try {
      const resolved = resolveEnvelope(step.compensate, {
        results: (id) => ev.results.get(id),
        item: undefined,
      });
      const task = stepTask(resolved, taskId, ev.input.def.workflowId);
      return {
        ...base,
        submit: [{ stepId: step.id, taskId, resolved, task }],
        cancel: [],
        outcome: undefined,
      };
    } catch (err) {
      if (!(err instanceof ResolveError)) throw err;
      view.compensation = { taskId, state: 'failed' };
    }
  }
  return {
    ...base,
    submit: [],
    cancel: [],
    outcome: { ...outcome, message: `${outcome.message} (rolled back)` },
  };
}

function evaluateStep(ev: Evaluation, step: WorkflowStep): StepView {
  const deps = step.dependsOn.map((d) => ev.views.get(d)!);
  if (deps.some((d) => d.state === 'failed' || d.state === 'cancelled')) return view(step, 'cancelled');
  if (deps.some((d) => d.state === 'skipped')) return view(step, 'skipped', 'DEPENDENCY_SKIPPED');
  if (deps.some((d) => d.state !== 'succeeded')) return view(step, 'waiting');
  try {
    if (step.when && !holds(step.when, ev)) return view(step, 'skipped', 'CONDITION_FALSE');
  } catch (err) {
    if (err instanceof ResolveError) return failedView(step, [], err);
    throw err;
  }
  return step.forEach ? evaluateFanOut(ev, step) : evaluateSingle(ev, step);
}

function holds(when: string, ev: Evaluation): boolean {
  const c = parseCondition(when);
  const side = (o: (typeof c)['left']): string =>
    'ref' in o ? summaryValue(o.ref, { results: (id) => ev.results.get(id) }) : o.literal;
  return compare(side(c.left), c.op, side(c.right));
}

function evaluateSingle(ev: Evaluation, step: WorkflowStep): StepView {
  const chain = chainOf(ev.input, step, undefined);
  const v = view(step, 'running', undefined, chain.taskIds);
  if (chain.state === 'missing') {
    // A retry waiting out its backoff is running; a first attempt is once it is submitted.
    const err = ev.want(step, chain, undefined);
    if (err) return failedView(step, chain.taskIds, err);
    return chain.taskIds.length > 0 || ev.wanted.has(step.id) ? v : { ...v, state: 'waiting' };
  }
  if (chain.state === 'running') {
    ev.open.push(chain.taskIds.at(-1)!);
    return v;
  }
  if (chain.state === 'succeeded') {
    ev.results.set(step.id, chain.last!.result ?? { outputs: [], summary: {} });
    return { ...v, state: 'succeeded' };
  }
  return finalFailure(step, v, chain);
}

function evaluateFanOut(ev: Evaluation, step: WorkflowStep): StepView {
  let items: Item[];
  try {
    items = forEachItems(step.forEach!, ev.results.get(step.forEach!.step)!, ev.input.readBlob);
  } catch (err) {
    if (err instanceof ResolveError) return failedView(step, [], err);
    throw err;
  }
  if (items.length > MAX_FOR_EACH_BRANCHES) {
    return {
      ...view(step, step.onError.kind === 'skip' ? 'skipped' : 'failed', 'FAN_OUT_TOO_WIDE'),
      message: `${items.length} branches, at most ${MAX_FOR_EACH_BRANCHES}`,
    };
  }
  const taskIds: string[] = [];
  const branches: StepOutputs[] = [];
  let pending = false;
  let failure: { chain: Chain } | undefined;
  for (const [i, item] of items.entries()) {
    const chain = chainOf(ev.input, step, i);
    const err = chain.state === 'missing' ? ev.want(step, chain, item) : undefined;
    if (err) return failedView(step, [...taskIds, ...chain.taskIds], err);
    taskIds.push(...chain.taskIds);
    if (chain.state === 'missing') pending = true;
    else if (chain.state === 'running') {
      pending = true;
      ev.open.push(chain.taskIds.at(-1)!);
    } else if (chain.state === 'succeeded') branches.push(chain.last!.result ?? { outputs: [], summary: {} });
    else failure ??= { chain };
  }
  const v: StepView = { ...view(step, 'running', undefined, taskIds), branches: items.length };
  // Under skip, the step ends once every branch has; otherwise the first failure ends it.
  if (failure && (step.onError.kind !== 'skip' || !pending)) return finalFailure(step, v, failure.chain);
  if (pending) return taskIds.length === 0 && !ev.wanted.has(step.id) ? { ...v, state: 'waiting' } : v;
  ev.results.set(step.id, {
    outputs: branches.flatMap((b) => b.outputs),
    summary: {},
    branches: branches.map((b) => b.outputs),
  });
  return { ...v, state: 'succeeded' };
}

function finalFailure(step: WorkflowStep, v: StepView, chain: Chain): StepView {
  const last = chain.last!;
  const state: StepState =
    step.onError.kind === 'skip' ? 'skipped' : chain.state === 'cancelled' ? 'cancelled' : 'failed';
  return {
    ...v,
    state,
    ...(last.code !== undefined ? { code: last.code } : {}),
    ...(last.message !== undefined ? { message: last.message } : {}),
  };
}

function failedView(step: WorkflowStep, taskIds: string[], err: ResolveError): StepView {
  const state: StepState = step.onError.kind === 'skip' ? 'skipped' : 'failed';
  return { ...view(step, state, err.code, taskIds), message: err.message };
}

function view(step: WorkflowStep, state: StepState, code?: string, taskIds: string[] = []): StepView {
  const v: StepView = { id: step.id, state, dependsOn: step.dependsOn, taskIds };
  if (code !== undefined) v.code = code;
  return v;
}

/**
 * When each step's first task was created and (finished steps) its last one changed; for views
 * (the advancer does not need it, and it is a walk over every task).
 */
export function addTiming(steps: StepView[], tasks: ReadonlyMap<string, StepTask>): void {
  for (const v of steps) {
    let started = Number.POSITIVE_INFINITY;
    let finished = 0;
    for (const id of v.taskIds) {
      const t = tasks.get(id);
      if (!t) continue;
      started = Math.min(started, t.createdAtMs);
      finished = Math.max(finished, t.updatedAtMs);
    }
    if (started === Number.POSITIVE_INFINITY) continue;
    v.startedAtMs = started;
    if (v.state !== 'waiting' && v.state !== 'running') v.finishedAtMs = finished;
  }
}
