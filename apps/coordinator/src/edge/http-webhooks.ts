// The webhook routes: the delivery log of a task (`GET /v1/webhooks/deliveries?task_id=`, scope
// read) and the tenant's signing secret (`GET /v1/webhooks/secret`, scope admin).
import { CoordinatorError } from '../errors.ts';
import type { DeliveryRecord } from '../store/webhook-store.ts';
import { type ApiContext, type Handler, json, listLimit } from './http-util.ts';
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

const listDeliveries: Handler = async (ctx, req, res, tenant, parts) => {
  if (parts[1] !== 'deliveries') throw new CoordinatorError('NOT_FOUND', `GET /v1/webhooks/${parts[1]}`);
  const q = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const taskId = q.get('task_id');
  if (!taskId) throw new CoordinatorError('INVALID_ARGUMENT', 'task_id is required', 'task_id');
  const deliveries = await ctx.coordinator.store.webhookStore().list(tenant, taskId, listLimit(q));
  json(res, 200, { deliveries: deliveries.map(deliveryView) });
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
