// The webhook outbox's endpoints (`/v1/webhooks/...`): what FlockClient's `webhookDeliveries`,
// `redeliverWebhook` and `webhookSecret` send, over the client's transport.
import type { WebhookDelivery, WebhookDeliveryPage, WebhookDeliveryQuery } from './api-types.ts';
import { FlockError } from './flock-error.ts';
import type { HttpTransport } from './http-transport.ts';

/** A task's (or workflow's) deliveries by its id, or one page of the tenant's by `query.state`. */
export async function webhookDeliveries(
  http: HttpTransport,
  of: string | WebhookDeliveryQuery,
): Promise<WebhookDelivery[] | WebhookDeliveryPage> {
  if (typeof of !== 'string') {
    const { since, ...rest } = of;
    return http.json<WebhookDeliveryPage>('GET', '/v1/webhooks/deliveries', {
      query: { ...rest, since: since === undefined ? undefined : String(since) },
    });
  }
  if (of === '') throw new FlockError('INVALID_ARGUMENT', 'taskId is empty');
  const body = await http.json<{ deliveries: WebhookDelivery[] }>('GET', '/v1/webhooks/deliveries', {
    query: { task_id: of },
  });
  return body.deliveries;
}

export function redeliverWebhook(http: HttpTransport, id: number): Promise<{ id: number; state: 'pending' }> {
  if (!Number.isSafeInteger(id) || id < 1)
    throw new FlockError('INVALID_ARGUMENT', 'id must be a delivery id');
  return http.json<{ id: number; state: 'pending' }>('POST', `/v1/webhooks/deliveries/${id}/redeliver`);
}

export async function webhookSecret(http: HttpTransport): Promise<string> {
  return (await http.json<{ tenant: string; secret: string }>('GET', '/v1/webhooks/secret')).secret;
}
