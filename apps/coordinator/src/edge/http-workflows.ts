// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// `/v1/workflows`: definitions in (checked, each step admitted like a task), status, list, cancel.
import { randomBytes } from 'node:crypto';
import {
  type ComputeEnvelope,
  decodeUtf8Strict,
  fromJson,
  ProtocolError,
  parseJsonText,
  toJson,
  validateEnvelope,
} from '@flock/protocol';
import {
  workflowJson as definitionJson,
  parseWorkflow,
  type WorkflowDef,
} from '../engine/workflow-definition.ts';
import { wholeRef } from '../engine/workflow-refs.ts';
import { stepJson, workflowJson } from '../engine/workflows.ts';
import { CoordinatorError } from '../errors.ts';
import { sha256Hex } from '../sha256.ts';
import { WORKFLOW_STATES, type WorkflowState } from '../store/workflow-store.ts';
import { admitEnvelope } from './http-tasks.ts';
import { type ApiContext, type Handler, json, listLimit, mediaType, readBody } from './http-util.ts';
import { afterCursor, nextCursor } from './page-cursor.ts';
import { checkBodySignature } from './task-signatures.ts';
import { answerWorkflowTrace } from './trace-header.ts';
import { checkReturnChannel } from './webhook-targets.ts';
import { definitionFromCapnp } from './workflow-capnp.ts';

/** A stand-in for a referenced input while the step is admitted (its real bytes come later). */
const PLACEHOLDER_INPUT = { inline_json: 'null' };

/** The step's envelope with references replaced by stand-ins, as a task the edge can admit. */
function sampleEnvelope(template: Record<string, unknown>, stepId: string): ComputeEnvelope {
  const inputs = Array.isArray(template.inputs)
    ? template.inputs.map((raw) => {
        // Not an object: left for the envelope checks to refuse with its field.
        if (typeof raw !== 'object' || raw === null) return raw;
        const input = raw as Record<string, unknown>;
        if (typeof input.uri !== 'string' || !wholeRef(input.uri)) return input;
        const { uri: _uri, hash: _hash, size: _size, ...rest } = input;
        return { ...rest, ...PLACEHOLDER_INPUT };
      })
    : undefined;
  const { qos, ...rest } = template;
  const requirements = (rest.requirements ?? {}) as Record<string, unknown>;
  return fromJson('ComputeEnvelope', {
    ...rest,
    ...(inputs ? { inputs } : {}),
    ...(template.params !== undefined ? { params: standIn(template.params) } : {}),
    ...(qos !== undefined
      ? { requirements: { ...requirements, qos: { ...(requirements.qos as object), ...(qos as object) } } }
      : {}),
    task_id: `admit.${stepId}`,
  });
}

/** Params with each whole reference as 0 and embedded ones as text. */
function standIn(value: unknown): unknown {
  if (typeof value === 'string') return wholeRef(value) ? 0 : value.replace(/\$\{[^}]*\}/g, '0');
  if (Array.isArray(value)) return value.map(standIn);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, standIn(v)]));
  return value;
}

/**
 * Checks a step's (or compensation's) envelope as a task would be checked and returns it as it
 * is stored: the admitted envelope (metered module) with its references kept.
 */
async function admitTemplate(
  ctx: ApiContext,
  tenant: string,
  template: Record<string, unknown>,
  stepId: string,
  field: string,
): Promise<Record<string, unknown>> {
  let sample: ComputeEnvelope;
  try {
    sample = sampleEnvelope(template, stepId);
    validateEnvelope(sample);
  } catch (err) {
    if (err instanceof ProtocolError)
      throw new ProtocolError(err.code, err.message, `${field}${err.field ? `.${err.field}` : ''}`);
    throw err;
  }
  await admitEnvelope(ctx, sample, tenant, `${field}.`);
  const {
    task_id: _id,
    inputs: _inputs,
    params: _params,
    requirements,
    ...admitted
  } = toJson('ComputeEnvelope', sample);
  const { qos: _qos, ...rest } = template;
  return {
    ...admitted,
    ...(requirements !== undefined ? { requirements } : {}),
    ...(rest.inputs !== undefined ? { inputs: rest.inputs } : {}),
    ...(rest.params !== undefined ? { params: rest.params } : {}),
  };
}

export async function readDefinition(ctx: ApiContext, req: Parameters<Handler>[1]): Promise<unknown> {
  if (mediaType(req) !== 'application/json')
    throw new CoordinatorError(
      'UNSUPPORTED_MEDIA_TYPE',
      'use application/json (or, for workflows, application/x-capnp)',
    );
  const body = await readBody(req, ctx.config.maxBodyBytes);
  return parseJsonText(
    decodeUtf8Strict(body, '$'),
    { maxBytes: ctx.config.maxBodyBytes, maxDepth: 128 },
    '$',
  );
}

/** Every step's envelope (and compensation) admitted and stored in its checked form. */
export async function admitSteps(ctx: ApiContext, tenant: string, def: WorkflowDef): Promise<void> {
  for (const [i, step] of def.steps.entries()) {
    step.envelope = await admitTemplate(ctx, tenant, step.envelope, step.id, `steps[${i}]`);
    if (step.compensate)
      step.compensate = await admitTemplate(ctx, tenant, step.compensate, step.id, `steps[${i}].compensate`);
  }
}

/** Checks, admits and starts a definition; the answer of `POST /v1/workflows` (and of a circuit's run). */
export async function startWorkflow(
  ctx: ApiContext,
  tenant: string,
  raw: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const def = parseWorkflow(raw, () => `wf-${randomBytes(9).toString('base64url')}`);
  checkReturnChannel(def.returnChannel, ctx.config, 'return_channel');
  // A workflow starts only where its first step has room; its later steps are always let in.
  ctx.limits.checkCapacity(1);
  await admitSteps(ctx, tenant, def);
  const definition = JSON.stringify(definitionJson(def));
  const { kind, record } = await ctx.coordinator.workflows.create(
    tenant,
    def,
    definition,
    sha256Hex(Buffer.from(definition)),
  );
  return {
    status: kind === 'created' ? 201 : 200,
    body: { ...workflowJson(record), definition: JSON.parse(record.definition) },
  };
}

/** A definition, circuit or run body checked against the key's signing secret, `security` dropped. */
export function signedBody(ctx: ApiContext, raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  return checkBodySignature(raw as Record<string, unknown>, ctx.signingSecret);
}

/** `POST /v1/workflows`: the JSON form, or a Cap'n Proto `WorkflowDefinition` (workflow-capnp.ts). */
export const createWorkflow: Handler = async (ctx, req, res, tenant) => {
  const raw =
    mediaType(req) === 'application/x-capnp'
      ? definitionFromCapnp(await readBody(req, ctx.config.maxBodyBytes), ctx.config.maxBodyBytes)
      : await readDefinition(ctx, req);
  const { status, body } = await startWorkflow(ctx, tenant, signedBody(ctx, raw));
  answerWorkflowTrace(res, tenant, String(body.workflow_id));
  json(res, status, body);
};

export const getWorkflow: Handler = async (ctx, _req, res, tenant, parts) => {
  const status = await ctx.coordinator.workflows.status(tenant, parts[1]!);
  if (!status) throw new CoordinatorError('NOT_FOUND', `no workflow "${parts[1]}"`);
  json(res, 200, { ...workflowJson(status.record), steps: status.steps.map(stepJson) });
};

export const cancelWorkflow: Handler = async (ctx, _req, res, tenant, parts) => {
  const record = await ctx.coordinator.workflows.cancel(tenant, parts[1]!);
  json(res, 200, workflowJson(record));
};

/** `GET /v1/workflows?state=&limit=&after=`: the tenant's workflows, oldest first, paged like tasks. */
export const listWorkflows: Handler = async (ctx, req, res, tenant) => {
  const q = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const state = q.get('state') ?? undefined;
  if (state !== undefined && !WORKFLOW_STATES.includes(state as WorkflowState))
    throw new CoordinatorError(
      'INVALID_ARGUMENT',
      `state must be one of ${WORKFLOW_STATES.join(', ')}`,
      'state',
    );
  const limit = listLimit(q);
  const afterUid = afterCursor(q.get('after'));
  const rows = await ctx.coordinator.store
    .workflowStore()
    .list(tenant, { state: state as WorkflowState | undefined, afterUid, limit });
  const body: Record<string, unknown> = { workflows: rows.map(workflowJson) };
  if (rows.length === limit) body.next = nextCursor(rows[rows.length - 1]!.uid);
  json(res, 200, body);
};
