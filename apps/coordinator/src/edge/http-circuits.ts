// `/v1/circuits`: named workflow templates (stored checked), their topology, and runs — each run a
// workflow `<name>-<run_id>` with the run's inputs and params in the template's slots.
import { randomBytes } from 'node:crypto';
import { instantiate, templateSlots, topology } from '../engine/circuit-template.ts';
import { parseWorkflow, type WorkflowDef } from '../engine/workflow-definition.ts';
import { CoordinatorError } from '../errors.ts';
import { sha256Hex } from '../sha256.ts';
import type { CircuitRecord } from '../store/workflow-store.ts';
import { type Handler, json } from './http-util.ts';
import { admitSteps, readDefinition, signedBody, startWorkflow } from './http-workflows.ts';
import { answerWorkflowTrace } from './trace-header.ts';

const NAME = /^[A-Za-z][A-Za-z0-9_]{0,47}$/;
const RUN_ID = /^[A-Za-z0-9_-]{1,15}$/;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The template parsed with stand-ins in its slots (inputs `inline_json: "null"`, params 0);
 * `stored`: one checked when it was stored (parseWorkflow).
 */
function standInDef(template: Record<string, unknown>, name: string, stored = false): WorkflowDef {
  const slots = templateSlots(template);
  const run = {
    inputs: Object.fromEntries(slots.inputs.map((n) => [n, { inline_json: 'null' }])),
    params: Object.fromEntries(slots.params.map((n) => [n, 0])),
  };
  return parseWorkflow({ ...instantiate(template, run), workflow_id: `${name}-check` }, () => name, stored);
}

function circuitView(c: CircuitRecord, withDefinition: boolean): Record<string, unknown> {
  const template = JSON.parse(c.definition) as Record<string, unknown>;
  return {
    name: c.name,
    created_at_ms: c.createdAtMs,
    ...templateSlots(template),
    topology: topology(standInDef(template, c.name, true)),
    ...(withDefinition ? { definition: template } : {}),
  };
}

export const createCircuit: Handler = async (ctx, req, res, tenant) => {
  const raw = signedBody(ctx, await readDefinition(ctx, req));
  if (!isObject(raw)) throw new CoordinatorError('INVALID_ARGUMENT', 'body must be an object', '$');
  const { name, ...template } = raw;
  if (typeof name !== 'string' || !NAME.test(name))
    throw new CoordinatorError('INVALID_ARGUMENT', 'name: a letter, then up to 47 of A-Z a-z 0-9 _', 'name');
  if ('workflow_id' in template)
    throw new CoordinatorError('INVALID_ARGUMENT', 'a circuit names its runs: no workflow_id', 'workflow_id');
  // Checked as a workflow would be, with stand-ins in the slots.
  await admitSteps(ctx, tenant, standInDef(template, name));
  const definition = JSON.stringify(template);
  const record = {
    tenant,
    name,
    definition,
    contentHash: sha256Hex(Buffer.from(definition)),
    createdAtMs: Date.now(),
  };
  const outcome = await ctx.coordinator.store.workflowStore().putCircuit(record);
  if (outcome === 'conflict')
    throw new CoordinatorError('CONFLICT', `circuit "${name}" exists with another definition`, 'name');
  const stored = (await ctx.coordinator.store.workflowStore().getCircuit(tenant, name))!;
  json(res, outcome === 'created' ? 201 : 200, circuitView(stored, false));
};

export const listCircuits: Handler = async (ctx, _req, res, tenant) => {
  const circuits = await ctx.coordinator.store.workflowStore().listCircuits(tenant);
  json(res, 200, { circuits: circuits.map((c) => circuitView(c, false)) });
};

async function findCircuit(
  ctx: Parameters<Handler>[0],
  tenant: string,
  name: string,
): Promise<CircuitRecord> {
  const circuit = await ctx.coordinator.store.workflowStore().getCircuit(tenant, name);
  if (!circuit) throw new CoordinatorError('NOT_FOUND', `no circuit "${name}"`);
  return circuit;
}

export const getCircuit: Handler = async (ctx, _req, res, tenant, parts) => {
  json(res, 200, circuitView(await findCircuit(ctx, tenant, parts[1]!), true));
};

/** `POST /v1/circuits/:name/runs` `{ run_id?, inputs?, params? }`: a workflow `<name>-<run_id>`. */
export const runCircuit: Handler = async (ctx, req, res, tenant, parts) => {
  const circuit = await findCircuit(ctx, tenant, parts[1]!);
  const raw = signedBody(ctx, await readDefinition(ctx, req));
  if (!isObject(raw)) throw new CoordinatorError('INVALID_ARGUMENT', 'body must be an object', '$');
  for (const key of Object.keys(raw)) {
    if (key !== 'run_id' && key !== 'inputs' && key !== 'params')
      throw new CoordinatorError('INVALID_ARGUMENT', `unknown field "${key}"`, key);
  }
  const runId = raw.run_id ?? randomBytes(6).toString('base64url');
  if (typeof runId !== 'string' || !RUN_ID.test(runId))
    throw new CoordinatorError('INVALID_ARGUMENT', 'run_id: 1-15 of A-Z a-z 0-9 _ -', 'run_id');
  for (const key of ['inputs', 'params'] as const) {
    if (raw[key] !== undefined && !isObject(raw[key]))
      throw new CoordinatorError('INVALID_ARGUMENT', `${key} must be an object`, key);
  }
  const template = JSON.parse(circuit.definition) as Record<string, unknown>;
  const instance = instantiate(template, {
    inputs: (raw.inputs ?? {}) as Record<string, unknown>,
    params: (raw.params ?? {}) as Record<string, unknown>,
  });
  const { status, body } = await startWorkflow(ctx, tenant, {
    ...instance,
    workflow_id: `${circuit.name}-${runId}`,
  });
  answerWorkflowTrace(res, tenant, String(body.workflow_id));
  json(res, status, { ...body, circuit: circuit.name, run_id: runId });
};
