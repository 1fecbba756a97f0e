// `flock webhooks <task_id> | failed | redeliver <id> | secret`: a task's webhook deliveries with
// each attempt, the tenant's failed (given up) deliveries, one of them posted again, and the
// tenant's signing secret receivers verify Flock-Signature with.

import type { WebhookDelivery, WebhookDeliveryQuery } from '../api-types.ts';
import type { FlockClient } from '../flock-client.ts';
import type { CliContext, Command } from './commands.ts';
import { EXIT, UsageError } from './exit-codes.ts';
import { table } from './format.ts';

const HEAD = ['ID', 'EVENT', 'STATE', 'ATTEMPTS', 'LAST', 'NEXT', 'URL'];
const FAILED_HEAD = ['ID', 'TASK', 'EVENT', 'ATTEMPTS', 'LAST', 'CREATED', 'URL'];
const USAGE =
  'usage: flock webhooks <task_id> | flock webhooks failed [--since TIME] | flock webhooks redeliver <id> | flock webhooks secret';

/**
 * `flock webhooks <task_id>`: its deliveries; `failed`: the tenant's given-up ones (every page);
 * `redeliver <id>`: one of those posted again; `secret`: the tenant's secret (admin).
 */
export const webhooks: Command = async (ctx) => {
  const { client, io, values, args } = ctx;
  const json = values.json === true;
  const [first, ...extra] = args;
  if (first === 'redeliver') return redeliver(ctx, extra);
  if (first === undefined || first === '' || extra.length > 0) throw new UsageError(USAGE);
  if (first === 'secret') {
    const secret = await client.webhookSecret();
    io.stdout(json ? `${JSON.stringify({ secret }, null, 2)}\n` : `${secret}\n`);
    return EXIT.ok;
  }
  if (first === 'failed') {
    const deliveries = await allFailed(client, values.since);
    if (json) io.stdout(`${JSON.stringify({ deliveries }, null, 2)}\n`);
    else
      io.stdout(
        deliveries.length === 0
          ? 'no failed webhook deliveries\n'
          : table(FAILED_HEAD, deliveries.map(failedRow)),
      );
    return EXIT.ok;
  }
  const deliveries = await client.webhookDeliveries(first);
  if (json) io.stdout(`${JSON.stringify({ deliveries }, null, 2)}\n`);
  else io.stdout(deliveries.length === 0 ? 'no webhook deliveries\n' : table(HEAD, deliveries.map(row)));
  return EXIT.ok;
};

async function redeliver({ client, io, values }: CliContext, args: string[]): Promise<number> {
  const [idText, ...extra] = args;
  if (idText === undefined || !/^\d{1,15}$/.test(idText) || extra.length > 0) throw new UsageError(USAGE);
  const done = await client.redeliverWebhook(Number(idText));
  io.stdout(
    values.json === true
      ? `${JSON.stringify(done, null, 2)}\n`
      : `webhook delivery ${done.id} is pending again: posted at once\n`,
  );
  return EXIT.ok;
}

async function allFailed(client: FlockClient, since: string | undefined): Promise<WebhookDelivery[]> {
  const query: WebhookDeliveryQuery = { state: 'failed', limit: 1000 };
  if (since !== undefined) query.since = since;
  const out: WebhookDelivery[] = [];
  for (let after: string | undefined; ; ) {
    const page = await client.webhookDeliveries(after === undefined ? query : { ...query, after });
    out.push(...page.deliveries);
    after = page.next;
    if (after === undefined) return out;
  }
}

function lastOf(d: WebhookDelivery): string {
  const last = d.attempts[d.attempts.length - 1];
  return last === undefined ? '-' : (last.error ?? String(last.status));
}

function row(d: WebhookDelivery): string[] {
  return [
    String(d.id),
    d.event,
    d.state,
    String(d.attempts.length),
    lastOf(d),
    d.next_attempt_at_ms === undefined ? '-' : new Date(d.next_attempt_at_ms).toISOString(),
    d.url,
  ];
}

function failedRow(d: WebhookDelivery): string[] {
  return [
    String(d.id),
    d.task_id,
    d.event,
    String(d.attempts.length),
    lastOf(d),
    new Date(d.created_at_ms).toISOString(),
    d.url,
  ];
}
