// Failed webhook deliveries through the SDK and the CLI against a real coordinator and receiver:
// a 400 fails the delivery at once; `webhookDeliveries({ state: 'failed' })` and `flock webhooks
// failed` list it; fixed, `flock webhooks redeliver <id>` posts it once more with the same
// Flock-Webhook-Id; a second redelivery is CONFLICT, another id NOT_FOUND.
import { expect, test } from 'vitest';
import { FlockError } from '../src/index.ts';
import { runCli } from './support/run-cli.ts';
import { webhookRig } from './support/webhook-receiver.ts';

async function poll<T>(fn: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const value = await fn();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('timed out');
}

test('a failed webhook listed, redelivered once fixed, and refused a second time', async () => {
  const rig = await webhookRig(400);
  const { url, coordinator, key, client, answer } = rig;
  const received = () => rig.received.map((r) => r.headers);
  try {
    await rig.cancelledTask('rd-1');
    const page = await poll(async () => {
      const p = await client.webhookDeliveries({ state: 'failed' });
      return p.deliveries.length > 0 ? p : undefined;
    });
    expect(page.next).toBeUndefined();
    const [failed] = page.deliveries;
    expect(failed).toMatchObject({
      task_id: 'rd-1',
      url,
      state: 'failed',
      attempts: [{ n: 1, status: 400 }],
    });
    const id = failed!.id;
    const cli = (args: string[]) => runCli(args, { url: coordinator.url, key });
    expect(JSON.parse((await cli(['webhooks', 'failed', '--json'])).stdout)).toEqual({
      deliveries: [failed],
    });
    const listed = await cli(['webhooks', 'failed']);
    expect(listed.stdout.split('\n')[1]?.split(/\s{2,}/)).toEqual([
      String(id),
      'rd-1',
      'compute:dispatch:v1:cancelled',
      '1',
      'HTTP 400',
      new Date(failed!.created_at_ms).toISOString(),
      url,
    ]);
    expect((await cli(['webhooks', 'failed', '--since', String(Date.now() + 60_000)])).stdout).toBe(
      'no failed webhook deliveries\n',
    );

    answer.status = 204;
    expect(await cli(['webhooks', 'redeliver', String(id)])).toEqual({
      code: 0,
      stdout: `webhook delivery ${id} is pending again: posted at once\n`,
      stderr: '',
    });
    const [delivered] = await poll(async () => {
      const [d] = await client.webhookDeliveries('rd-1');
      return d?.state === 'delivered' ? [d] : undefined;
    });
    expect(delivered!.attempts.map((a) => [a.n, a.status])).toEqual([[1, 204]]);
    expect(received().map((h) => [h['flock-webhook-id'], h['flock-webhook-attempt']])).toEqual([
      [String(id), '1'],
      [String(id), '1'],
    ]);
    expect((await client.webhookDeliveries({ state: 'failed' })).deliveries).toEqual([]);

    const again = await client.redeliverWebhook(id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(FlockError);
    expect(again).toMatchObject({ code: 'CONFLICT', status: 409 });
    const missing = await cli(['webhooks', 'redeliver', String(id + 1000)]);
    expect(missing).toEqual({
      code: 4,
      stdout: '',
      stderr: `flock: NOT_FOUND: no webhook delivery ${id + 1000}\n`,
    });
    expect((await cli(['webhooks', 'redeliver', 'abc'])).code).toBe(2);
    expect(received()).toHaveLength(2);
  } finally {
    await rig.close();
  }
});
