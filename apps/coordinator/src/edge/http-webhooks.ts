// The webhook routes: the delivery log of a task (`GET /v1/webhooks/deliveries?task_id=`) or of
// the tenant's deliveries in one state (`?state=failed`, paged), scope read; a failed delivery
// posted again (`POST /v1/webhooks/deliveries/:id/redeliver`, scope submit); the tenant's signing
// secret (`GET /v1/webhooks/secret`, scope admin).
import { CoordinatorError } from '../errors.ts';
import type { DeliveryRecord, DeliveryState } from '../store/webhook-store.ts';
import { sinceMs } from './http-audit.ts';
import { type ApiContext, type Handler, json, listLimit } from './http-util.ts';
import { afterCursor, nextCursor } from './page-cursor.ts';
import { forbidden } from './scopes.ts';
import type { Webhooks } from './webhooks.ts';

function webhooksOf(ctx: ApiContext): Webhooks {
  if (ctx.webhooks === undefined) throw new CoordinatorError('NOT_FOUND', 'webhooks are not running here');
  return ctx.webhooks;
}

/** A delivery as the log shows it (the body is what was posted; the receiver has it). */
function deliveryView(d: DeliveryRecord): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: d.id,
    task_id: d.taskId,
    event: d.event,
    url: d.url,
    state: d.state,
    created_at_ms: d.createdAtMs,
  };
  if (d.nextAttemptAtMs !== undefined) view.next_attempt_at_ms = d.nextAttemptAtMs;
  view.attempts = d.attempts.map((a, i) => {
    const attempt: Record<string, unknown> = { n: i + 1, at_ms: a.atMs };
    if (a.status !== undefined) attempt.status = a.status;
    if (a.error !== undefined) attempt.error = a.error;
    return attempt;
  });
  return view;
}

/**
 * 404 `NOT_FOUND` (as `GET /v1/tasks/:id` answers) for an id that is neither a task nor a workflow
 * of the tenant: an empty delivery log would read as "no webhooks were due".
 */
async function knownTaskOrWorkflow(ctx: ApiContext, tenant: string, id: string): Promise<void> {
  const store = ctx.coordinator.store;
  if ((await store.getTask(tenant, id)) !== undefined) return;
  if ((await store.workflowStore().get(tenant, id)) !== undefined) return;
  throw new CoordinatorError('NOT_FOUND', `no task or workflow "${id}"`);
}

const QUERY_KEYS = new Set(['task_id', 'state', 'since', 'limit', 'after']);
const STATES: readonly DeliveryState[] = ['failed', 'pending', 'delivered'];

/** `?task_id=`: that task's deliveries; `?state=&since=&after=`: the tenant's in that state, paged. */
const listDeliveries: Handler = async (ctx, req, res, tenant, parts) => {
  if (parts[1] !== 'deliveries') throw new CoordinatorError('NOT_FOUND', `GET /v1/webhooks/${parts[1]}`);
  const q = new URL(req.url ?? '/', 'http://localhost').searchParams;
  for (const key of q.keys()) {
    if (!QUERY_KEYS.has(key))
      throw new CoordinatorError('INVALID_ARGUMENT', `unknown parameter "${key}"`, key);
  }
  const limit = listLimit(q);
  const taskId = q.get('task_id');
  const state = q.get('state');
  const store = ctx.coordinator.store.webhookStore();
  if (taskId) {
    for (const key of ['state', 'since', 'after'])
      if (q.has(key)) throw new CoordinatorError('INVALID_ARGUMENT', `${key} does not go with task_id`, key);
    await knownTaskOrWorkflow(ctx, tenant, taskId);
    const deliveries = await store.list(tenant, taskId, limit);
    return json(res, 200, { deliveries: deliveries.map(deliveryView) });
  }
  if (state === null)
    throw new CoordinatorError('INVALID_ARGUMENT', 'task_id or state is required', 'task_id');
  if (!(STATES as readonly string[]).includes(state))
    throw new CoordinatorError('INVALID_ARGUMENT', 'state must be failed, pending or delivered', 'state');
  const deliveries = await store.listByState({
    tenant,
    state: state as DeliveryState,
    sinceMs: sinceMs(q.get('since')) ?? 0,
    afterId: afterCursor(q.get('after')),
    limit,
  });
  const body: Record<string, unknown> = { deliveries: deliveries.map(deliveryView) };
  if (deliveries.length === limit) body.next = nextCursor(deliveries[deliveries.length - 1]!.id);
  json(res, 200, body);
};

/**
 * `POST /v1/webhooks/deliveries/:id/redeliver`: a failed delivery back to pending with no attempts,
 * posted again at once (same Flock-Webhook-Id, a fresh signature). 404 for another tenant's or an
 * unknown id; 409 for one that is pending or delivered.
 */
export const redeliverWebhook: Handler = async (ctx, _req, res, tenant, parts) => {
  const [, what, idText, verb] = parts;
  if (what !== 'deliveries' || verb !== 'redeliver')
    throw new CoordinatorError('NOT_FOUND', `POST /v1/webhooks/${parts.slice(1).join('/')}`);
  const id = /^\d{1,15}$/.test(idText ?? '') ? Number(idText) : undefined;
  const was =
    id === undefined
      ? undefined
      : await ctx.coordinator.store.webhookStore().redeliver(tenant, id, Date.now());
  if (was === undefined) throw new CoordinatorError('NOT_FOUND', `no webhook delivery ${idText}`);
  if (was !== 'failed')
    throw new CoordinatorError(
      'CONFLICT',
      `webhook delivery ${id} is ${was}: only a failed delivery is redelivered`,
    );
  ctx.webhooks?.kick();
  json(res, 202, { id, state: 'pending' });
};

const getWebhookSecret: Handler = async (ctx, _req, res, tenant, parts) => {
  if (parts[1] !== 'secret') throw new CoordinatorError('NOT_FOUND', `GET /v1/webhooks/${parts[1]}`);
  if (ctx.scopes && !ctx.scopes.has('admin')) throw forbidden('admin');
  json(res, 200, { tenant, secret: webhooksOf(ctx).secretFor(tenant) });
};

/** `GET /v1/webhooks/deliveries` or `/secret`. */
export const getWebhooks: Handler = (ctx, req, res, tenant, parts) =>
  parts[1] === 'secret'
    ? getWebhookSecret(ctx, req, res, tenant, parts)
    : listDeliveries(ctx, req, res, tenant, parts);
