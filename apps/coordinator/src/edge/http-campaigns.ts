import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  type ComputeEnvelope,
  campaignTraceId,
  decodeUtf8Strict,
  fromJson,
  ProtocolError,
  parseJsonText,
  type VerificationPolicy,
  validateEnvelope,
} from '@flock/protocol';
import { WaitingMemo } from '../engine/waiting-memo.ts';
import { CoordinatorError } from '../errors.ts';
import { resolvePolicy, TrustError } from '../trust/index.ts';
import { admitEnvelope, admitEnvelopeAtOnce, freshTaskView, viewTask, viewTasks } from './http-tasks.ts';
import { type ApiContext, type Handler, json, mediaType, readBody } from './http-util.ts';
import { checkSignature } from './task-signatures.ts';
import type { TaskView } from './task-view.ts';
import { answerTrace, requestTrace } from './trace-header.ts';

/** Tasks one campaign request may carry. */
export const MAX_CAMPAIGN_TASKS = 10_000;

/** The body of `POST /v1/campaigns`: a JSON object of `campaign_id`, `tasks`, `verification`. */
async function readCampaignBody(ctx: ApiContext, req: IncomingMessage): Promise<Record<string, unknown>> {
  if (mediaType(req) !== 'application/json')
    throw new CoordinatorError('UNSUPPORTED_MEDIA_TYPE', 'use application/json');
  const body = await readBody(req, ctx.config.maxBodyBytes);
  const value = parseJsonText(
    decodeUtf8Strict(body, '$'),
    { maxBytes: ctx.config.maxBodyBytes, maxDepth: 128 },
    '$',
  );
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CoordinatorError('INVALID_ARGUMENT', 'body must be an object', '$');
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key !== 'campaign_id' && key !== 'tasks' && key !== 'verification')
      throw new CoordinatorError('INVALID_ARGUMENT', `unknown field "${key}"`, key);
  }
  return obj;
}

/** A campaign-wide verification policy: the default of every task that sets none. */
function campaignPolicy(raw: unknown): VerificationPolicy | undefined {
  if (raw === undefined) return undefined;
  try {
    const policy = fromJson('VerificationPolicy', raw);
    resolvePolicy(policy);
    return policy;
  } catch (err) {
    if (err instanceof ProtocolError) {
      throw new CoordinatorError(
        'INVALID_ARGUMENT',
        err.message,
        `verification${err.field ? `.${err.field}` : ''}`,
      );
    }
    if (err instanceof TrustError) throw new CoordinatorError('INVALID_ARGUMENT', err.message, err.field);
    throw err;
  }
}

/** The campaign's id as given, or a random `c-` one. */
function campaignIdOf(raw: unknown): string {
  const campaignId = raw === undefined ? `c-${randomBytes(9).toString('base64url')}` : raw;
  if (typeof campaignId !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/.test(campaignId)) {
    throw new CoordinatorError(
      'INVALID_ARGUMENT',
      'campaign_id: 1-128 of A-Z a-z 0-9 . _ : @ -',
      'campaign_id',
    );
  }
  return campaignId;
}

/**
 * One task of a campaign: in the campaign, with its policy unless it sets one, unique by task_id.
 * A signing key's task is checked as sent, before the campaign's id and policy are filled in.
 */
function campaignEnvelope(
  raw: unknown,
  campaignId: string,
  policy: VerificationPolicy | undefined,
  seen: Set<string>,
  signingSecret: string | undefined,
): ComputeEnvelope {
  const envelope = fromJson('ComputeEnvelope', raw);
  checkSignature(envelope, signingSecret, '');
  if (envelope.campaign_id && envelope.campaign_id !== campaignId) {
    throw new CoordinatorError('INVALID_ARGUMENT', 'campaign_id differs from the campaign', 'campaign_id');
  }
  envelope.campaign_id = campaignId;
  if (policy && !envelope.verification) envelope.verification = structuredClone(policy);
  validateEnvelope(envelope);
  if (seen.has(envelope.task_id!))
    throw new CoordinatorError('INVALID_ARGUMENT', 'duplicate task_id', 'task_id');
  seen.add(envelope.task_id!);
  return envelope;
}

/** The campaign's tasks, each error's field prefixed with `tasks[i]`. */
function campaignEnvelopes(
  tasks: unknown,
  campaignId: string,
  policy: VerificationPolicy | undefined,
  signingSecret: string | undefined,
): ComputeEnvelope[] {
  if (!Array.isArray(tasks) || tasks.length === 0 || tasks.length > MAX_CAMPAIGN_TASKS) {
    throw new CoordinatorError(
      'INVALID_ARGUMENT',
      `tasks must be an array of 1..${MAX_CAMPAIGN_TASKS} envelopes`,
      'tasks',
    );
  }
  const seen = new Set<string>();
  return tasks.map((raw, i) => {
    try {
      return campaignEnvelope(raw, campaignId, policy, seen, signingSecret);
    } catch (err) {
      if (err instanceof ProtocolError || err instanceof CoordinatorError) {
        const field = `tasks[${i}]${err.field ? `.${err.field}` : ''}`;
        if (err instanceof ProtocolError) throw new ProtocolError(err.code, err.message, field);
        throw new CoordinatorError(err.code, err.message, field);
      }
      throw err;
    }
  });
}

/** Admits and submits the campaign's tasks; 201 when any was created, else 200. */
async function submitCampaign(
  ctx: ApiContext,
  tenant: string,
  campaignId: string,
  envelopes: ComputeEnvelope[],
  traceId: string | undefined,
): Promise<{ status: number; body: unknown }> {
  for (let i = 0; i < envelopes.length; i++) {
    const envelope = envelopes[i]!;
    const prefix = `tasks[${i}].`;
    if (!admitEnvelopeAtOnce(ctx, envelope, prefix)) await admitEnvelope(ctx, envelope, tenant, prefix);
  }
  await ctx.limits.checkQueued(tenant, envelopes.length);
  const outcomes = await ctx.coordinator.submit(
    envelopes.map((envelope, i) => ({ tenant, envelope, field: `tasks[${i}]`, traceId })),
  );
  const conflicts = outcomes.filter((o) => o.kind === 'conflict');
  if (conflicts.length > 0) {
    const ids = conflicts.map((o) => (o.kind === 'conflict' ? o.taskId : '')).slice(0, 10);
    throw new CoordinatorError('CONFLICT', `tasks exist with different content: ${ids.join(', ')}`, 'tasks');
  }
  const views: TaskView[] = [];
  const memo = new WaitingMemo();
  for (let i = 0; i < outcomes.length; i++) {
    const o = outcomes[i]!;
    if (o.kind === 'created') {
      // A new task without a policy has no attempts and no verification state to look up: its
      // view is made at once (viewTask's awaits cost a campaign's every task their promises).
      if (envelopes[i]!.verification === undefined) views.push(freshTaskView(ctx, o.task, memo));
      else views.push(await viewTask(ctx, o.task, { fresh: true, memo, verified: true }));
    } else if (o.kind === 'existing') views.push(await viewTask(ctx, o.task, { memo }));
  }
  const created = outcomes.some((o) => o.kind === 'created');
  return { status: created ? 201 : 200, body: { campaign_id: campaignId, tasks: views } };
}

export const createCampaign: Handler = async (ctx, req, res, tenant) => {
  const obj = await readCampaignBody(ctx, req);
  const policy = campaignPolicy(obj.verification);
  const campaignId = campaignIdOf(obj.campaign_id);
  const envelopes = campaignEnvelopes(obj.tasks, campaignId, policy, ctx.signingSecret);
  // The tasks share one trace: the traceparent's, else the campaign's own (derived from its id).
  const parent = requestTrace(req);
  const { status, body } = await submitCampaign(ctx, tenant, campaignId, envelopes, parent?.traceId);
  answerTrace(res, parent?.traceId ?? campaignTraceId(tenant, campaignId), campaignId, parent);
  json(res, status, body);
};

export const getCampaign: Handler = async (ctx, _req, res, tenant, parts) => {
  const campaignId = parts[1]!;
  const store = ctx.coordinator.store;
  const counts = await store.countByState(tenant, campaignId);
  if (Object.values(counts).every((n) => n === 0))
    throw new CoordinatorError('NOT_FOUND', `no campaign "${campaignId}"`);
  const tasks = await store.listTasks(tenant, { campaignId, limit: MAX_CAMPAIGN_TASKS });
  json(res, 200, { campaign_id: campaignId, counts, tasks: await viewTasks(ctx, tasks) });
};
