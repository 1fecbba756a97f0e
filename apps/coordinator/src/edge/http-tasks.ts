import {
  type ComputeEnvelope,
  decodeMessage,
  decodeUtf8Strict,
  parseEnvelopeJson,
  validateEnvelope,
} from '@flock/protocol';
import { storedCorrelationId } from '../engine/open-task.ts';
import { WaitingMemo } from '../engine/waiting-memo.ts';
import { CoordinatorError } from '../errors.ts';
import { blobHex } from '../store/blob-store.ts';
import { TASK_STATES, type TaskRecord, type TaskState } from '../store/store.ts';
import { type ApiContext, type Handler, json, listLimit, mediaType, readBody } from './http-util.ts';
import { checkModel } from './model-check.ts';
import { canCheckOpNow, checkOp, checkOpNow, modelOf } from './op-check.ts';
import { afterCursor, nextCursor } from './page-cursor.ts';
import { forbidden } from './scopes.ts';
import { checkSignature } from './task-signatures.ts';
import { type TaskView, taskView } from './task-view.ts';
import { answerTrace, requestTrace } from './trace-header.ts';
import { checkReturnChannel } from './webhook-targets.ts';

/** The task view; `fresh` tasks were just created (no attempts yet); `memo` is per request. */
export async function viewTask(
  ctx: ApiContext,
  task: TaskRecord,
  options: {
    fresh?: boolean;
    memo?: WaitingMemo;
    /** Whether its envelope has a verification policy, where the caller has it parsed. */
    verified?: boolean;
  } = {},
): Promise<ReturnType<typeof taskView>> {
  const attempts = options.fresh ? [] : await ctx.coordinator.store.listAttempts(task.uid);
  const view = taskView(task, attempts, ctx.coordinator.waitingReason(task.uid, options.memo));
  // Verified tasks (#9): the engine's state. Only tasks whose envelope has a policy are looked up
  // (a lookup is a query, and most tasks have none).
  const verified =
    options.verified ??
    Buffer.from(task.envelope.buffer, task.envelope.byteOffset, task.envelope.byteLength).includes(
      '"verification"',
    );
  const v = verified
    ? await ctx.coordinator.trust.status(String(task.uid)).catch(() => undefined)
    : undefined;
  if (v) {
    view.verification = {
      state: v.state,
      mode: v.mode,
      quorum: v.quorum,
      max_replicas: v.maxReplicas,
      dispatched: v.dispatched,
      running: v.running,
      returned: v.returned,
      agreeing: v.agreeing,
      workers: v.workers,
    };
    if (v.acceptedBy) view.verification.accepted_by = v.acceptedBy;
  }
  return view;
}

/** The view of a task just created without a verification policy: `viewTask` with nothing to await. */
export function freshTaskView(ctx: ApiContext, task: TaskRecord, memo?: WaitingMemo): TaskView {
  return taskView(task, [], ctx.coordinator.waitingReason(task.uid, memo));
}

/** The views of `tasks`, in order, sharing one waiting-reason memo. */
export async function viewTasks(
  ctx: ApiContext,
  tasks: TaskRecord[],
): Promise<ReturnType<typeof taskView>[]> {
  const views = [];
  const memo = new WaitingMemo();
  for (const task of tasks) views.push(await viewTask(ctx, task, { memo }));
  return views;
}

/** A `flock:sha256:<hex>` module must have been uploaded (POST /v1/modules) first, and be no model. */
async function checkModule(ctx: ApiContext, envelope: ComputeEnvelope, field: string): Promise<void> {
  const uri = envelope.module?.uri;
  if (!uri?.startsWith('flock:')) return;
  const name = uri.slice('flock:'.length);
  if (!blobHex(name) || !(await ctx.coordinator.store.isModule(name))) {
    throw new CoordinatorError(
      'INVALID_ARGUMENT',
      `module ${uri} was not uploaded (POST /v1/modules)`,
      field,
    );
  }
  if (await ctx.coordinator.store.isModel(name)) {
    throw new CoordinatorError(
      'INVALID_ARGUMENT',
      `${uri} is an ONNX model: name it in an ml.* task's params.model`,
      field,
    );
  }
}

/**
 * Inputs named `flock:sha256:<hex>` must be blobs the tenant may read: uploaded with
 * POST /v1/blobs, or outputs of its own tasks.
 */
async function checkInputs(
  ctx: ApiContext,
  envelope: ComputeEnvelope,
  tenant: string,
  prefix: string,
): Promise<void> {
  for (const [i, input] of (envelope.inputs ?? []).entries()) {
    const uri = input.uri;
    if (!uri?.startsWith('flock:')) continue;
    const name = uri.slice('flock:'.length);
    if (!blobHex(name) || !(await ctx.coordinator.store.blobVisible(name, tenant))) {
      throw new CoordinatorError(
        'INVALID_ARGUMENT',
        `input ${uri} is not a blob of this tenant (upload it with POST /v1/blobs)`,
        `${prefix}inputs[${i}].uri`,
      );
    }
  }
}

/**
 * What a submitted envelope must pass before it is queued: its module and inputs uploaded,
 * its WASM module metered. `prefix` locates it in the request (`tasks[3].` in a campaign).
 */
export async function admitEnvelope(
  ctx: ApiContext,
  envelope: ComputeEnvelope,
  tenant: string,
  prefix: string,
): Promise<void> {
  if (admitEnvelopeAtOnce(ctx, envelope, prefix)) return;
  const op = envelope.op ?? '';
  if (ctx.scopes && !ctx.scopes.canSubmit(op)) throw forbidden(`can_submit:${op}`, `${prefix}op`);
  await checkOp(envelope, prefix, ctx.config.extraOps);
  checkReturnChannel(envelope.return_channel, ctx.config, `${prefix}return_channel`);
  await checkModule(ctx, envelope, `${prefix}module.uri`);
  await checkModel(ctx, envelope, `${prefix}params.model`);
  await checkInputs(ctx, envelope, tenant, prefix);
  await ctx.meter.meter(envelope, prefix);
}

function namesBlobInput(envelope: ComputeEnvelope): boolean {
  for (const input of envelope.inputs ?? []) if (input.uri?.startsWith('flock:')) return true;
  return false;
}

/**
 * `admitEnvelope` where none of its checks has to wait: no uploaded module, model or input to look
 * up, no WASM module to meter, the reference ops loaded. Then it checks at once and says true;
 * otherwise it checks nothing and says false. A campaign admits up to 10,000 envelopes, and the
 * awaited checks cost each of them a dozen promises.
 */
export function admitEnvelopeAtOnce(ctx: ApiContext, envelope: ComputeEnvelope, prefix: string): boolean {
  const module = envelope.module;
  if (
    (module !== undefined && ((module.kind ?? 'wasm') === 'wasm' || module.uri?.startsWith('flock:'))) ||
    modelOf(envelope) !== undefined ||
    namesBlobInput(envelope) ||
    !canCheckOpNow(envelope, ctx.config.extraOps)
  ) {
    return false;
  }
  const op = envelope.op ?? '';
  if (ctx.scopes && !ctx.scopes.canSubmit(op)) throw forbidden(`can_submit:${op}`, `${prefix}op`);
  checkOpNow(envelope, prefix, ctx.config.extraOps);
  if (envelope.return_channel)
    checkReturnChannel(envelope.return_channel, ctx.config, `${prefix}return_channel`);
  return true;
}

async function findTask(ctx: ApiContext, tenant: string, taskId: string): Promise<TaskRecord> {
  const task = await ctx.coordinator.store.getTask(tenant, taskId);
  if (!task) throw new CoordinatorError('NOT_FOUND', `no task "${taskId}"`);
  return task;
}

/** The envelope of `POST /v1/tasks`, as JSON or Cap'n Proto. */
function decodeEnvelope(ctx: ApiContext, type: string, body: Buffer): ComputeEnvelope {
  const maxBytes = ctx.config.maxBodyBytes;
  if (type === 'application/json') return parseEnvelopeJson(decodeUtf8Strict(body, '$'), { maxBytes });
  if (type === 'application/x-capnp') {
    const envelope = decodeMessage('ComputeEnvelope', body, { maxFrameBytes: maxBytes });
    validateEnvelope(envelope);
    return envelope;
  }
  throw new CoordinatorError('UNSUPPORTED_MEDIA_TYPE', 'use application/json or application/x-capnp');
}

export const createTask: Handler = async (ctx, req, res, tenant) => {
  const body = await readBody(req, ctx.config.maxBodyBytes);
  const envelope = decodeEnvelope(ctx, mediaType(req), body);
  checkSignature(envelope, ctx.signingSecret, '');
  await admitEnvelope(ctx, envelope, tenant, '');
  await ctx.limits.checkQueued(tenant, 1);
  const parent = requestTrace(req);
  const [outcome] = await ctx.coordinator.submit([{ tenant, envelope, traceId: parent?.traceId }]);
  if (!outcome || outcome.kind === 'conflict' || outcome.kind === 'skipped') {
    throw new CoordinatorError(
      'CONFLICT',
      `task "${envelope.task_id}" exists with different content`,
      'task_id',
    );
  }
  // A task sent again keeps the trace it was stored with.
  const traceId =
    outcome.kind === 'created' ? envelope.correlation_id : storedCorrelationId(outcome.task.envelope);
  answerTrace(res, traceId, outcome.task.taskId, parent);
  // A task just created is shown as accepted: queued, with no attempts to look up (a lease its
  // dispatch started before this answer shows from the next GET on).
  const created = outcome.kind === 'created';
  const view = await viewTask(
    ctx,
    outcome.task,
    created ? { fresh: true, verified: envelope.verification !== undefined } : {},
  );
  json(res, created ? 201 : 200, view);
};

export const getTask: Handler = async (ctx, _req, res, tenant, parts) => {
  json(res, 200, await viewTask(ctx, await findTask(ctx, tenant, parts[1]!)));
};

export const listTasks: Handler = async (ctx, req, res, tenant) => {
  const q = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const state = q.get('state') ?? undefined;
  if (state !== undefined && !TASK_STATES.includes(state as TaskState)) {
    throw new CoordinatorError('INVALID_ARGUMENT', `state must be one of ${TASK_STATES.join(', ')}`, 'state');
  }
  const limit = listLimit(q);
  const afterUid = afterCursor(q.get('after'));
  const tasks = await ctx.coordinator.store.listTasks(tenant, {
    state: state as TaskState | undefined,
    campaignId: q.get('campaign_id') ?? undefined,
    afterUid,
    limit,
  });
  const body: Record<string, unknown> = { tasks: await viewTasks(ctx, tasks) };
  if (tasks.length === limit) body.next = nextCursor(tasks[tasks.length - 1]!.uid);
  json(res, 200, body);
};

export const getResult: Handler = async (ctx, _req, res, tenant, parts) => {
  const task = await findTask(ctx, tenant, parts[1]!);
  if (task.state !== 'succeeded' || !task.result) {
    throw new CoordinatorError('NOT_READY', `task is ${task.state}`);
  }
  // Stored as its JSON view already; a signed task's token is echoed in it.
  const body = withTaskToken(task.result, task.envelope);
  res.writeHead(200, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': body.byteLength,
  });
  res.end(body);
};

/** The stored result, with the requester's `security.task_token` as its `task_token` when it had one. */
function withTaskToken(result: Uint8Array, envelopeJson: Uint8Array): Uint8Array {
  const envelopeText = Buffer.from(envelopeJson.buffer, envelopeJson.byteOffset, envelopeJson.byteLength);
  if (!envelopeText.includes('"security"')) return result;
  const token = (JSON.parse(envelopeText.toString('utf8')) as { security?: { task_token?: string } }).security
    ?.task_token;
  if (!token) return result;
  const view = JSON.parse(Buffer.from(result).toString('utf8')) as Record<string, unknown>;
  return Buffer.from(JSON.stringify({ ...view, task_token: token }));
}

export const cancelTask: Handler = async (ctx, _req, res, tenant, parts) => {
  const task = await findTask(ctx, tenant, parts[1]!);
  const previous = await ctx.coordinator.cancel(task, 'cancelled by requester');
  if (previous === undefined) throw new CoordinatorError('ALREADY_FINISHED', `task is ${task.state}`);
  json(res, 200, await viewTask(ctx, (await ctx.coordinator.store.getTaskByUid(task.uid))!));
};
