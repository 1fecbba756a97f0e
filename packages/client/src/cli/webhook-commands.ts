// `flock webhooks <task_id> | secret`: a task's webhook deliveries with each attempt, and the
// tenant's signing secret receivers verify Flock-Signature with.
import type { WebhookDelivery } from '../api-types.ts';
import type { Command } from './commands.ts';
import { EXIT, UsageError } from './exit-codes.ts';
import { table } from './format.ts';

const HEAD = ['ID', 'EVENT', 'STATE', 'ATTEMPTS', 'LAST', 'NEXT', 'URL'];
const USAGE = 'usage: flock webhooks <task_id> | flock webhooks secret';

/** `flock webhooks <task_id>`: its deliveries; `flock webhooks secret`: the tenant's secret (admin). */
export const webhooks: Command = async ({ client, io, values, args }) => {
  const json = values.json === true;
  const [first, ...extra] = args;
  if (first === undefined || first === '' || extra.length > 0) throw new UsageError(USAGE);
  if (first === 'secret') {
    const secret = await client.webhookSecret();
    io.stdout(json ? `${JSON.stringify({ secret }, null, 2)}\n` : `${secret}\n`);
    return EXIT.ok;
  }
  const deliveries = await client.webhookDeliveries(first);
  if (json) io.stdout(`${JSON.stringify({ deliveries }, null, 2)}\n`);
  else io.stdout(deliveries.length === 0 ? 'no webhook deliveries\n' : table(HEAD, deliveries.map(row)));
  return EXIT.ok;
};

function row(d: WebhookDelivery): string[] {
  const last = d.attempts[d.attempts.length - 1];
  return [
    String(d.id),
    d.event,
    d.state,
    String(d.attempts.length),
    last === undefined ? '-' : (last.error ?? String(last.status)),
    d.next_attempt_at_ms === undefined ? '-' : new Date(d.next_attempt_at_ms).toISOString(),
    d.url,
  ];
}
