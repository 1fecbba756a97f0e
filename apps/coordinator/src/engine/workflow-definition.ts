// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// A workflow's definition (`POST /v1/workflows`), parsed and checked: step ids, the DAG of
// depends_on (no cycles, nothing dangling), references only to ancestors, `when` syntax, limits.
// Pure: the envelopes themselves are checked by the edge (http-workflows.ts). WORKFLOWS.md.
import { CoordinatorError } from '../errors.ts';
import { conditionSteps, parseCondition, placeholders, type StepRef, wholeRef } from './workflow-refs.ts';

/** Steps one workflow may have. */
export const MAX_WORKFLOW_STEPS = 1000;
/** Branches one for_each step may fan out to; more fail the step with FAN_OUT_TOO_WIDE. */
export const MAX_FOR_EACH_BRANCHES = 10_000;
/** Extra attempts `on_error: { retry: n }` may ask for. */
export const MAX_STEP_RETRIES = 10;

/** What happens when a step fails (after its task's own `qos.retries`). */
export type ErrorPolicy =
  | { kind: 'abort' }
  | { kind: 'skip' }
  | { kind: 'rollback' }
  /** `attempts` more tasks (`<id>.retry<n>`), the n-th `backoffMs·2^(n-1)` after the failure. */
  | { kind: 'retry'; attempts: number; backoffMs: number };

export interface WorkflowStep {
  id: string;
  /** The task envelope's JSON view without task_id; inputs and params may hold references. */
  envelope: Record<string, unknown>;
  dependsOn: string[];
  /** The condition's text (`${steps.a.summary.n} < 10`); false → skipped. */
  when: string | undefined;
  /** `${steps.<id>.outputs}` (one branch per output) or `${steps.<id>.outputs.<name>}` (per JSON list element). */
  forEach: (StepRef & { kind: 'outputs' | 'output' }) | undefined;
  onError: ErrorPolicy;
  /** Run, in reverse order, for each succeeded step when a later one fails under `rollback`. */
  compensate: Record<string, unknown> | undefined;
}

export interface WorkflowDef {
  workflowId: string;
  steps: WorkflowStep[];
  onError: ErrorPolicy;
  /** Where the workflow's and its steps' terminal events also go (`/v1/events?channel=`). */
  returnChannel: string | undefined;
}

const WORKFLOW_ID = /^[A-Za-z0-9][A-Za-z0-9_:@-]{0,63}$/;
const STEP_ID = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const TOP_KEYS = new Set(['workflow_id', 'steps', 'on_error', 'return_channel']);
/** A step's envelope fields (a ComputeEnvelope's, less task_id and campaign_id, plus `qos`). */
const ENVELOPE_KEYS = new Set([
  'op',
  'version',
  'module',
  'requirements',
  'inputs',
  'params',
  'security',
  'buffers',
  'verification',
  'return_channel',
  'correlation_id',
  'qos',
]);
const FLOW_KEYS = new Set(['id', 'depends_on', 'when', 'for_each', 'on_error', 'compensate']);

const bad = (message: string, field: string): CoordinatorError =>
  new CoordinatorError('INVALID_ARGUMENT', message, field);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses and checks a definition; `workflowId` is used when the body names none. `stored`: one
 * read back from the store, whose references were checked when it was submitted — not again, so
 * that a check added since cannot stop a workflow (or a coordinator's start) halfway.
 */
export function parseWorkflow(raw: unknown, workflowId: () => string, stored = false): WorkflowDef {
  if (!isObject(raw)) throw bad('body must be an object', '$');
  for (const key of Object.keys(raw)) if (!TOP_KEYS.has(key)) throw bad(`unknown field "${key}"`, key);
  const id = raw.workflow_id === undefined ? workflowId() : raw.workflow_id;
  if (typeof id !== 'string' || !WORKFLOW_ID.test(id))
    throw bad('workflow_id: 1-64 of A-Z a-z 0-9 _ : @ - (no dot)', 'workflow_id');
  const onError = parsePolicy(raw.on_error ?? 'abort', 'on_error');
  if (!Array.isArray(raw.steps) || raw.steps.length === 0 || raw.steps.length > MAX_WORKFLOW_STEPS)
    throw bad(`steps must be an array of 1..${MAX_WORKFLOW_STEPS} steps`, 'steps');
  const steps: WorkflowStep[] = [];
  for (const [i, s] of raw.steps.entries()) steps.push(parseStep(s, i, steps, onError));
  checkDag(steps);
  const ancestors = ancestorSets(steps);
  const fanOuts = new Set(steps.filter((s) => s.forEach).map((s) => s.id));
  for (const [i, step] of steps.entries())
    if (!stored) checkRefs(step, `steps[${i}]`, ancestors.get(step.id)!, fanOuts);
  const channel = raw.return_channel;
  if (channel !== undefined && (typeof channel !== 'string' || channel.length === 0 || channel.length > 256))
    throw bad('return_channel: 1-256 characters', 'return_channel');
  return { workflowId: id, steps, onError, returnChannel: channel };
}

/** `abort` | `skip` | `rollback` | `{ retry: n, backoff_ms? }`. */
export function parsePolicy(raw: unknown, field: string): ErrorPolicy {
  if (raw === 'abort' || raw === 'skip' || raw === 'rollback') return { kind: raw };
  if (isObject(raw)) {
    for (const key of Object.keys(raw))
      if (key !== 'retry' && key !== 'backoff_ms') throw bad(`unknown field "${key}"`, `${field}.${key}`);
    const n = raw.retry;
    if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > MAX_STEP_RETRIES)
      throw bad(`retry: 1..${MAX_STEP_RETRIES} more attempts`, `${field}.retry`);
    const backoff = raw.backoff_ms ?? 1000;
    if (!Number.isInteger(backoff) || (backoff as number) < 0 || (backoff as number) > 3_600_000)
      throw bad('backoff_ms: 0..3600000', `${field}.backoff_ms`);
    return { kind: 'retry', attempts: n as number, backoffMs: backoff as number };
  }
  throw bad('on_error: "abort", "skip", "rollback" or { "retry": n, "backoff_ms": ms }', field);
}

/** The JSON form of a policy (as the definition is stored and shown). */
export function policyJson(p: ErrorPolicy): unknown {
  return p.kind === 'retry' ? { retry: p.attempts, backoff_ms: p.backoffMs } : p.kind;
}

function parseStep(raw: unknown, i: number, before: WorkflowStep[], fallback: ErrorPolicy): WorkflowStep {
  const field = `steps[${i}]`;
  if (!isObject(raw)) throw bad('a step is an object', field);
  const envelope: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (ENVELOPE_KEYS.has(key)) envelope[key] = value;
    else if (!FLOW_KEYS.has(key)) throw bad(`unknown field "${key}"`, `${field}.${key}`);
  }
  const id = raw.id;
  if (typeof id !== 'string' || !STEP_ID.test(id))
    throw bad('id: a letter, then up to 63 of A-Z a-z 0-9 _ -', `${field}.id`);
  if (before.some((s) => s.id === id)) throw bad(`duplicate step id "${id}"`, `${field}.id`);
  return {
    id,
    envelope,
    dependsOn: parseDepends(raw.depends_on, before, `${field}.depends_on`),
    when: parseWhen(raw.when, `${field}.when`),
    forEach: parseForEach(raw.for_each, `${field}.for_each`),
    onError: raw.on_error === undefined ? fallback : parsePolicy(raw.on_error, `${field}.on_error`),
    compensate: parseCompensate(raw.compensate, raw.for_each !== undefined, `${field}.compensate`),
  };
}

/** Default: the previous step (none for the first). */
function parseDepends(raw: unknown, before: WorkflowStep[], field: string): string[] {
  if (raw === undefined) return before.length > 0 ? [before[before.length - 1]!.id] : [];
  if (!Array.isArray(raw) || raw.some((d) => typeof d !== 'string'))
    throw bad('depends_on: an array of step ids', field);
  if (new Set(raw).size !== raw.length) throw bad('depends_on names a step twice', field);
  return raw as string[];
}

function parseWhen(raw: unknown, field: string): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw bad('when: a condition such as "${steps.a.summary.n} < 10"', field);
  try {
    parseCondition(raw);
  } catch (err) {
    throw bad(`when: ${(err as Error).message}`, field);
  }
  return raw;
}

function parseForEach(raw: unknown, field: string): WorkflowStep['forEach'] {
  if (raw === undefined) return undefined;
  const ref = typeof raw === 'string' ? wholeRef(raw) : undefined;
  if (!ref || (ref.kind !== 'outputs' && ref.kind !== 'output'))
    throw bad('for_each: "${steps.<id>.outputs}" or "${steps.<id>.outputs.<name>}" (a JSON list)', field);
  return ref;
}

function parseCompensate(raw: unknown, forEach: boolean, field: string): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  if (forEach) throw bad('a for_each step cannot declare compensate', field);
  if (!isObject(raw)) throw bad('compensate: a task envelope without task_id', field);
  for (const key of Object.keys(raw))
    if (!ENVELOPE_KEYS.has(key)) throw bad(`unknown field "${key}"`, `${field}.${key}`);
  return raw;
}

/** Every depends_on names a step; the graph has no cycle (the error names one). */
function checkDag(steps: WorkflowStep[]): void {
  const index = new Map(steps.map((s, i) => [s.id, i]));
  for (const [i, s] of steps.entries()) {
    for (const [j, d] of s.dependsOn.entries()) {
      if (!index.has(d)) throw bad(`depends_on names no step "${d}"`, `steps[${i}].depends_on[${j}]`);
    }
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const byId = new Map(steps.map((s) => [s.id, s]));
  const visit = (id: string, path: string[]): void => {
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(id)), id];
      throw bad(`depends_on has a cycle: ${cycle.join(' → ')}`, `steps[${index.get(id)}].depends_on`);
    }
    state.set(id, 'visiting');
    for (const d of byId.get(id)!.dependsOn) visit(d, [...path, id]);
    state.set(id, 'done');
  };
  for (const s of steps) visit(s.id, []);
}

/** Each step's transitive dependencies. */
function ancestorSets(steps: WorkflowStep[]): Map<string, Set<string>> {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const memo = new Map<string, Set<string>>();
  const of = (id: string): Set<string> => {
    const known = memo.get(id);
    if (known) return known;
    const set = new Set<string>();
    for (const d of byId.get(id)!.dependsOn) {
      set.add(d);
      for (const a of of(d)) set.add(a);
    }
    memo.set(id, set);
    return set;
  };
  for (const s of steps) of(s.id);
  return memo;
}

/**
 * References in inputs, params, when, for_each and compensate name ancestors, in the right places;
 * summaries only of steps that have one (a for_each step has none: its branches' tasks do).
 */
function checkRefs(step: WorkflowStep, field: string, ancestors: Set<string>, fanOuts: Set<string>): void {
  const hasSummary = (ref: StepRef, where: string): void => {
    if (ref.kind === 'summary' && fanOuts.has(ref.step))
      throw bad(`step "${ref.step}" is a for_each step, which has no summary (pass on its outputs)`, where);
  };
  const scope = (ref: StepRef, where: string): void => {
    if (ref.kind === 'item') {
      if (!step.forEach) throw bad('${item} is only known in a for_each step', where);
      return;
    }
    if (!ancestors.has(ref.step))
      throw bad(`references step "${ref.step}", which is not among its dependencies`, where);
    hasSummary(ref, where);
  };
  if (step.forEach) scope(step.forEach, `${field}.for_each`);
  if (step.when) {
    for (const s of conditionSteps(parseCondition(step.when)))
      scope({ kind: 'summary', step: s, key: '' }, `${field}.when`);
  }
  checkEnvelopeRefs(step.envelope, field, scope);
  if (step.compensate) {
    // A compensation may also read the outputs of the step it undoes.
    const own = new Set([...ancestors, step.id]);
    checkEnvelopeRefs(step.compensate, `${field}.compensate`, (ref, where) => {
      if (ref.kind === 'item' || !own.has(ref.step))
        throw bad('a compensation references its step or the step’s dependencies', where);
      hasSummary(ref, where);
    });
  }
}

type Scope = (ref: StepRef, where: string) => void;

/** What an input referencing an output must not set itself. */
const BODY_OF_OUTPUT = ['inline_json', 'inline_bytes', 'hash', 'size'] as const;

/** Output references only as a whole input `uri`; summaries and items in params strings. */
function checkEnvelopeRefs(env: Record<string, unknown>, field: string, scope: Scope): void {
  const inputs = Array.isArray(env.inputs) ? env.inputs : [];
  for (const [i, input] of inputs.entries()) {
    if (!isObject(input)) continue;
    for (const [key, value] of Object.entries(input)) {
      if (typeof value !== 'string' || !value.includes('${')) continue;
      const where = `${field}.inputs[${i}].${key}`;
      const ref = wholeRef(value);
      if (key !== 'uri' || !ref || ref.kind === 'summary' || ref.kind === 'outputs')
        throw bad('an input references `"uri": "${steps.<id>.outputs.<name>}"` (or ${item})', where);
      scope(ref, where);
      // The output it names brings its own body, hash and size.
      const extra = BODY_OF_OUTPUT.find((k) => input[k] !== undefined);
      if (extra !== undefined)
        throw bad(`a referenced input takes its ${extra} from the output`, `${field}.inputs[${i}].${extra}`);
    }
  }
  checkParams(env.params, `${field}.params`, scope);
  for (const key of Object.keys(env)) {
    if (key === 'inputs' || key === 'params') continue;
    if (JSON.stringify(env[key]).includes('${'))
      throw bad('references are allowed in inputs and params only', `${field}.${key}`);
  }
}

function checkParams(value: unknown, where: string, scope: Scope): void {
  if (typeof value === 'string') {
    for (const p of placeholders(value)) {
      if (!p.ref) throw bad(`malformed reference ${p.text}`, where);
      if (p.ref.kind !== 'summary' && p.ref.kind !== 'item')
        throw bad('params reference summaries (${steps.<id>.summary.<key>}) or ${item}', where);
      scope(p.ref, where);
    }
  } else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) checkParams(v, `${where}[${i}]`, scope);
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      // Keys are not substituted: a reference there would reach the task as its text.
      if (k.includes('${')) throw bad('references are allowed in params values, not keys', `${where}.${k}`);
      checkParams(v, `${where}.${k}`, scope);
    }
  }
}

/** The definition as stored and shown: explicit depends_on and policies. */
export function workflowJson(def: WorkflowDef): Record<string, unknown> {
  return {
    workflow_id: def.workflowId,
    on_error: policyJson(def.onError),
    ...(def.returnChannel !== undefined ? { return_channel: def.returnChannel } : {}),
    steps: def.steps.map((s) => ({
      id: s.id,
      ...s.envelope,
      depends_on: s.dependsOn,
      ...(s.when !== undefined ? { when: s.when } : {}),
      ...(s.forEach ? { for_each: forEachText(s.forEach) } : {}),
      on_error: policyJson(s.onError),
      ...(s.compensate ? { compensate: s.compensate } : {}),
    })),
  };
}

function forEachText(ref: StepRef & { kind: 'outputs' | 'output' }): string {
  return ref.kind === 'outputs'
    ? `\${steps.${ref.step}.outputs}`
    : `\${steps.${ref.step}.outputs.${ref.name}}`;
}
