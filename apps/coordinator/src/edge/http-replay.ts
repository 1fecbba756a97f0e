// POST /v1/replay and GET /v1/replay/:id: recorded tasks re-submitted through the normal intake,
// each as `<task id>@replay-<n>` of the same tenant, so their results can be compared with the
// originals' (COORDINATOR README "Audit and replay").
import {
  type ComputeEnvelope,
  decodeUtf8Strict,
  fromJson,
  parseJsonText,
  validateEnvelope,
} from '@flock/protocol';
import { storedOutputHash } from '../engine/audit-hashes.ts';
import { CoordinatorError } from '../errors.ts';
import type { ReplayRecord } from '../store/audit-store.ts';
import type { TaskRecord } from '../store/store.ts';
import { MAX_CAMPAIGN_TASKS } from './http-campaigns.ts';
import { admitEnvelope } from './http-tasks.ts';
import { type ApiContext, type Handler, json, mediaType, readBody } from './http-util.ts';
import { forbidden } from './scopes.ts';
import { checkSignature, taskTokenOf } from './task-signatures.ts';

const SOURCES = ['task_id', 'campaign_id', 'workflow_id'] as const;
const KIND: Record<(typeof SOURCES)[number], ReplayRecord['sourceKind']> = {
  task_id: 'task',
  campaign_id: 'campaign',
  workflow_id: 'workflow',
};
const ID = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$/;

/** The one source a replay request names: `{ task_id }`, `{ campaign_id }` or `{ workflow_id }`. */
async function readSource(
  req: Parameters<Handler>[1],
): Promise<{ kind: ReplayRecord['sourceKind']; id: string }> {
  if (mediaType(req) !== 'application/json')
    throw new CoordinatorError('UNSUPPORTED_MEDIA_TYPE', 'use application/json');
  const body = await readBody(req, 64 << 10);
  const value = parseJsonText(decodeUtf8Strict(body, '$'), { maxBytes: 64 << 10, maxDepth: 4 }, '$');
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CoordinatorError('INVALID_ARGUMENT', 'body must be an object', '$');
  const keys = Object.keys(value);
  for (const key of keys) {
    if (!(SOURCES as readonly string[]).includes(key))
      throw new CoordinatorError('INVALID_ARGUMENT', `unknown field "${key}"`, key);
  }
  if (keys.length !== 1)
    throw new CoordinatorError('INVALID_ARGUMENT', 'name one of task_id, campaign_id, workflow_id', '$');
  const field = keys[0] as (typeof SOURCES)[number];
  const id = (value as Record<string, unknown>)[field];
  if (typeof id !== 'string' || !ID.test(id))
    throw new CoordinatorError('INVALID_ARGUMENT', `${field} is not a valid id`, field);
  return { kind: KIND[field], id };
}

/** The recorded tasks of the source, oldest first (a workflow's: its step tasks). */
async function originals(
  ctx: ApiContext,
  tenant: string,
  source: { kind: ReplayRecord['sourceKind']; id: string },
): Promise<TaskRecord[]> {
  const store = ctx.coordinator.store;
  if (source.kind === 'task') {
    const task = await store.getTask(tenant, source.id);
    if (!task) throw new CoordinatorError('NOT_FOUND', `no task "${source.id}"`);
    return [task];
  }
  if (source.kind === 'workflow' && !(await store.workflowStore().get(tenant, source.id)))
    throw new CoordinatorError('NOT_FOUND', `no workflow "${source.id}"`);
  const tasks = await store.listTasks(tenant, { campaignId: source.id, limit: MAX_CAMPAIGN_TASKS + 1 });
  if (tasks.length === 0) throw new CoordinatorError('NOT_FOUND', `no tasks in campaign "${source.id}"`);
  if (tasks.length > MAX_CAMPAIGN_TASKS)
    throw new CoordinatorError('INVALID_ARGUMENT', `a replay takes at most ${MAX_CAMPAIGN_TASKS} tasks`, '$');
  return tasks;
}

/**
 * The replay of one recorded envelope: the same task under `<task id>@replay-<n>`, in the replay's
 * own campaign (a campaign's or workflow's replay) or none (a task's), without the original's
 * return channel (a replay notifies no one) and correlation id (it gets its own trace). A signing
 * key's replay carries a fresh token made with its secret; another key's carries none.
 */
function replayEnvelope(
  ctx: ApiContext,
  task: TaskRecord,
  suffix: string,
  campaignId: string | undefined,
  field: string,
): ComputeEnvelope {
  const text = Buffer.from(task.envelope.buffer, task.envelope.byteOffset, task.envelope.byteLength);
  const stored = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
  const {
    security,
    return_channel: _channel,
    correlation_id: _trace,
    campaign_id: _campaign,
    ...rest
  } = stored as { security?: { task_token?: string } } & Record<string, unknown>;
  const envelope = fromJson(
    'ComputeEnvelope',
    { ...rest, task_id: `${task.taskId}${suffix}`, ...(campaignId ? { campaign_id: campaignId } : {}) },
    { maxFrameBytes: ctx.config.maxBodyBytes, maxParamsBytes: ctx.config.maxBodyBytes },
  );
  if (!ID.test(envelope.task_id ?? ''))
    throw new CoordinatorError('INVALID_ARGUMENT', `${envelope.task_id} is over 200 characters`, field);
  validateEnvelope(envelope);
  if (ctx.signingSecret !== undefined) {
    if (!security?.task_token)
      throw new CoordinatorError(
        'SIGNATURE_REQUIRED',
        `this key signs its tasks: task "${task.taskId}" was recorded unsigned`,
        field,
      );
    envelope.security = { task_token: taskTokenOf(envelope, ctx.signingSecret) };
  }
  return envelope;
}

/** `POST /v1/replay { task_id | campaign_id | workflow_id }` (scopes submit and read). */
export const createReplay: Handler = async (ctx, req, res, tenant) => {
  if (ctx.scopes && !ctx.scopes.has('read')) throw forbidden('read');
  const source = await readSource(req);
  const tasks = await originals(ctx, tenant, source);
  const audit = ctx.coordinator.store.auditStore();
  const n = (await audit.countReplays(tenant, source.kind, source.id)) + 1;
  const replayId = `${source.id}@replay-${n}`;
  if (!ID.test(replayId))
    throw new CoordinatorError('INVALID_ARGUMENT', 'the replay id would be over 200 characters', '$');
  const campaignId = source.kind === 'task' ? undefined : replayId;
  const items: Array<{ tenant: string; envelope: ComputeEnvelope; field: string }> = [];
  for (const [i, task] of tasks.entries()) {
    const field = source.kind === 'task' ? 'task_id' : `tasks[${i}]`;
    const envelope = replayEnvelope(ctx, task, `@replay-${n}`, campaignId, field);
    // The same checks as any submission: signature, op scope, modules, inputs, fuel.
    checkSignature(envelope, ctx.signingSecret, '');
    await admitEnvelope(ctx, envelope, tenant, source.kind === 'task' ? '' : `${field}.`);
    items.push({ tenant, envelope, field });
  }
  await ctx.limits.checkQueued(tenant, items.length);
  const outcomes = await ctx.coordinator.submit(items);
  const clash = outcomes.find((o) => o.kind === 'conflict');
  if (clash)
    throw new CoordinatorError('CONFLICT', `task "${clash.taskId}" exists with different content`, '$');
  const record: ReplayRecord = {
    tenant,
    replayId,
    sourceKind: source.kind,
    sourceId: source.id,
    createdAtMs: Date.now(),
    pairs: tasks.map((t, i) => ({ original: t.taskId, replay: items[i]!.envelope.task_id! })),
  };
  // A replay of the same source started at the same time stored the same tasks: it is this one.
  await audit.insertReplay(record);
  json(res, 201, replayView(record));
};

function replayView(record: ReplayRecord) {
  return {
    replay_id: record.replayId,
    source: { kind: record.sourceKind, id: record.sourceId },
    created_at: new Date(record.createdAtMs).toISOString(),
    pairs: record.pairs,
  };
}

/** A task of a pair: its state and output hash (null until it succeeded). */
async function side(ctx: ApiContext, tenant: string, taskId: string) {
  const task = await ctx.coordinator.store.getTask(tenant, taskId);
  const hash = task?.state === 'succeeded' && task.result ? storedOutputHash(task.result) : undefined;
  return { task_id: taskId, state: task?.state ?? 'purged', output_hash: hash ?? null };
}

/**
 * `GET /v1/replay/:id`: each pair with both output hashes and `equal` (null until both succeeded);
 * `done` once every replayed task finished, `equal` once every pair is equal.
 */
export const getReplay: Handler = async (ctx, _req, res, tenant, parts) => {
  const record = await ctx.coordinator.store.auditStore().getReplay(tenant, parts[1]!);
  if (!record) throw new CoordinatorError('NOT_FOUND', `no replay "${parts[1]}"`);
  const pairs = [];
  for (const pair of record.pairs) {
    const original = await side(ctx, tenant, pair.original);
    const replay = await side(ctx, tenant, pair.replay);
    const both = original.output_hash !== null && replay.output_hash !== null;
    pairs.push({ original, replay, equal: both ? original.output_hash === replay.output_hash : null });
  }
  const open = (s: string) => s === 'queued' || s === 'running';
  json(res, 200, {
    ...replayView(record),
    pairs,
    done: pairs.every((p) => !open(p.replay.state)),
    equal: pairs.every((p) => p.equal === true),
  });
};
