// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// Circuits: a workflow definition stored under a name, with slots filled per run — an input whose
// `uri` is `${input.<name>}` takes the run's input of that name (a data reference body), and
// `${param.<key>}` in params takes the run's param. Pure; WORKFLOWS.md.
import { CoordinatorError } from '../errors.ts';
import type { WorkflowDef } from './workflow-definition.ts';

const INPUT = /^\$\{input\.([A-Za-z0-9_-]{1,64})\}$/;
const PARAM = /\$\{param\.([A-Za-z0-9_-]{1,64})\}/g;
const WHOLE_PARAM = /^\$\{param\.([A-Za-z0-9_-]{1,64})\}$/;

/** What a run supplies. */
export interface CircuitRun {
  inputs: Record<string, unknown>;
  params: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The input and param names a template's slots name, sorted. */
export function templateSlots(template: Record<string, unknown>): { inputs: string[]; params: string[] } {
  const inputs = new Set<string>();
  const params = new Set<string>();
  const steps = Array.isArray(template.steps) ? template.steps : [];
  for (const step of steps) {
    for (const part of isObject(step) ? [step, step.compensate] : []) {
      if (!isObject(part)) continue;
      for (const input of Array.isArray(part.inputs) ? part.inputs : []) {
        const m = isObject(input) && typeof input.uri === 'string' ? INPUT.exec(input.uri) : null;
        if (m) inputs.add(m[1]!);
      }
      for (const m of JSON.stringify(part.params ?? null).matchAll(PARAM)) params.add(m[1]!);
    }
  }
  return { inputs: [...inputs].sort(), params: [...params].sort() };
}

/** The template with the run's inputs and params in its slots; a missing one is 400 naming it. */
export function instantiate(template: Record<string, unknown>, run: CircuitRun): Record<string, unknown> {
  const steps = Array.isArray(template.steps) ? template.steps : [];
  return {
    ...template,
    steps: steps.map((step) => {
      if (!isObject(step)) return step;
      const out = fill(step, run);
      if (isObject(step.compensate)) out.compensate = fill(step.compensate, run);
      return out;
    }),
  };
}

function fill(part: Record<string, unknown>, run: CircuitRun): Record<string, unknown> {
  const out = { ...part };
  if (Array.isArray(part.inputs)) out.inputs = part.inputs.map((input) => fillInput(input, run));
  if (part.params !== undefined) out.params = fillParams(part.params, run);
  return out;
}

function fillInput(input: unknown, run: CircuitRun): unknown {
  if (!isObject(input) || typeof input.uri !== 'string') return input;
  const m = INPUT.exec(input.uri);
  if (!m) return input;
  const given = run.inputs[m[1]!];
  if (!isObject(given)) {
    // A bare string is the likely slip (`"data": "flock:sha256:…"`): say what shape is wanted.
    const why =
      given === undefined
        ? `the circuit needs input "${m[1]}"`
        : `input "${m[1]}" must be an object, got ${kindOf(given)}`;
    throw new CoordinatorError(
      'INVALID_ARGUMENT',
      `${why} ({ "uri": … }, { "inline_bytes": … } or { "inline_json": … })`,
      `inputs.${m[1]}`,
    );
  }
  checkBody(m[1]!, given);
  const { uri: _uri, ...rest } = input;
  return { ...rest, ...given };
}

/** What a run's input may set: one body and what describes it (the slot keeps its name). */
const BODY_KEYS = new Set(['uri', 'inline_bytes', 'inline_json', 'content_type', 'hash', 'size', 'tensor']);
const BODIES = ['uri', 'inline_bytes', 'inline_json'];

/** A run's input is refused naming `inputs.<name>`, not the step input it fills. */
function checkBody(name: string, given: Record<string, unknown>): void {
  const field = `inputs.${name}`;
  for (const key of Object.keys(given)) {
    if (!BODY_KEYS.has(key))
      throw new CoordinatorError(
        'INVALID_ARGUMENT',
        `unknown field "${key}" in input "${name}"`,
        `${field}.${key}`,
      );
  }
  const bodies = BODIES.filter((key) => given[key] !== undefined);
  if (bodies.length !== 1)
    throw new CoordinatorError(
      'INVALID_ARGUMENT',
      `input "${name}" needs exactly one of "uri", "inline_bytes", "inline_json"`,
      field,
    );
  if (typeof given[bodies[0]!] !== 'string')
    throw new CoordinatorError('INVALID_ARGUMENT', `${bodies[0]} must be a string`, `${field}.${bodies[0]}`);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function fillParams(value: unknown, run: CircuitRun): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE_PARAM.exec(value);
    if (whole) return paramOf(whole[1]!, run);
    return value.replace(PARAM, (_all, key: string) => {
      const v = paramOf(key, run);
      return typeof v === 'string' ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => fillParams(v, run));
  if (isObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillParams(v, run)]));
  return value;
}

function paramOf(key: string, run: CircuitRun): unknown {
  if (!(key in run.params))
    throw new CoordinatorError('INVALID_ARGUMENT', `the circuit needs param "${key}"`, `params.${key}`);
  return run.params[key];
}

/** The circuit's topology: its steps and the edges of depends_on. */
export function topology(def: WorkflowDef): {
  nodes: Array<Record<string, unknown>>;
  edges: Array<{ from: string; to: string }>;
} {
  return {
    nodes: def.steps.map((s) => ({
      id: s.id,
      op: s.envelope.op,
      ...(s.forEach ? { for_each: true } : {}),
      ...(s.when !== undefined ? { when: s.when } : {}),
      ...(s.compensate ? { compensate: true } : {}),
    })),
    edges: def.steps.flatMap((s) => s.dependsOn.map((from) => ({ from, to: s.id }))),
  };
}
