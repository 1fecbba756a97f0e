// verifyWebhook: the coordinator's Flock-Signature (t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">)
// checked against a known answer (computed with openssl; the coordinator's webhook-policy test
// signs the same vector), tampering, another secret, stale and future times, malformed headers;
// then a real coordinator's POST verified with the secret the SDK reads, and the delivery log
// through the SDK and `flock webhooks` (an unknown task: NOT_FOUND, exit 4).
import { describe, expect, test } from 'vitest';
import { verifyWebhook, WEBHOOK_TOLERANCE_S } from '../src/index.ts';
import { runCli } from './support/run-cli.ts';
import { webhookRig } from './support/webhook-receiver.ts';

const BODY = '{"task_id":"t-1"}';
const SECRET = 'whsec_test_secret';
const T = 1_765_000_000;
const MAC = '13d8a9724491bea8c1703f0eaa4414559b36ada8d9badc1700c1a8defbb4681f';
const HEADER = `t=${T},v1=${MAC}`;
const AT = { nowMs: T * 1000 };

describe('verifyWebhook', () => {
  test('the known answer verifies, as text and as bytes', async () => {
    expect(await verifyWebhook(BODY, HEADER, SECRET, AT)).toBe(true);
    expect(await verifyWebhook(new TextEncoder().encode(BODY), HEADER, SECRET, AT)).toBe(true);
    // Another v1 beside it (a receiver mid-rotation) does not hurt.
    expect(await verifyWebhook(BODY, `t=${T},v1=${'0'.repeat(64)},v1=${MAC}`, SECRET, AT)).toBe(true);
  });

  test('a changed body, another secret or another time is refused', async () => {
    expect(await verifyWebhook('{"task_id":"t-2"}', HEADER, SECRET, AT)).toBe(false);
    expect(await verifyWebhook(`${BODY} `, HEADER, SECRET, AT)).toBe(false);
    expect(await verifyWebhook(BODY, HEADER, 'whsec_other_secret', AT)).toBe(false);
    expect(await verifyWebhook(BODY, `t=${T + 1},v1=${MAC}`, SECRET, AT)).toBe(false);
  });

  test('a signature older (or newer) than the tolerance is refused: replays', async () => {
    expect(WEBHOOK_TOLERANCE_S).toBe(300);
    expect(await verifyWebhook(BODY, HEADER, SECRET, { nowMs: (T + 300) * 1000 })).toBe(true);
    expect(await verifyWebhook(BODY, HEADER, SECRET, { nowMs: (T + 301) * 1000 })).toBe(false);
    expect(await verifyWebhook(BODY, HEADER, SECRET, { nowMs: (T - 301) * 1000 })).toBe(false);
    expect(await verifyWebhook(BODY, HEADER, SECRET, { nowMs: (T + 3600) * 1000, toleranceS: 3600 })).toBe(
      true,
    );
  });

  test('malformed or missing headers are refused', async () => {
    for (const header of [
      undefined,
      null,
      '',
      `v1=${MAC}`,
      `t=${T}`,
      `t=abc,v1=${MAC}`,
      `t=${T},v1=${MAC.slice(1)}`,
      MAC,
    ])
      expect(await verifyWebhook(BODY, header, SECRET, AT)).toBe(false);
  });
});

test("a coordinator's webhook verifies with the secret the SDK reads; its log through the SDK and the CLI", async () => {
  const rig = await webhookRig(204);
  const { url, coordinator, key, client, received } = rig;
  try {
    await rig.cancelledTask('wh-1');
    for (let i = 0; received.length === 0 && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
    const [post] = received;
    const secret = await client.webhookSecret();
    expect(secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    const header = String(post!.headers['flock-signature']);
    expect(await verifyWebhook(new Uint8Array(post!.body), header, secret)).toBe(true);
    expect(await verifyWebhook(post!.body.toString('utf8'), header, secret)).toBe(true);
    expect(await verifyWebhook(`${post!.body.toString('utf8')}x`, header, secret)).toBe(false);
    const [delivery] = await client.webhookDeliveries('wh-1');
    expect(delivery).toMatchObject({
      task_id: 'wh-1',
      url,
      state: 'delivered',
      attempts: [{ n: 1, status: 204 }],
    });
    const cli = (args: string[]) => runCli(args, { url: coordinator.url, key });
    expect(await cli(['webhooks', 'secret'])).toEqual({ code: 0, stdout: `${secret}\n`, stderr: '' });
    const listed = await cli(['webhooks', 'wh-1', '--json']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual({ deliveries: [delivery] });
    const table = await cli(['webhooks', 'wh-1']);
    expect(table.stdout.split('\n')[1]?.split(/\s{2,}/)).toEqual([
      String(delivery!.id),
      'compute:dispatch:v1:cancelled',
      'delivered',
      '1',
      '204',
      '-',
      url,
    ]);
    expect((await cli(['webhooks'])).code).toBe(2);
    // An id that is no task (or workflow) of the tenant is NOT_FOUND, not an empty log: printed,
    // exit 4, as `flock status` of it.
    await expect(client.webhookDeliveries('wh-none')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
    });
    expect(await cli(['webhooks', 'wh-none'])).toEqual({
      code: 4,
      stdout: '',
      stderr: 'flock: NOT_FOUND: no task or workflow "wh-none"\n',
    });
    expect((await cli(['status', 'wh-none'])).code).toBe(4);
  } finally {
    await rig.close();
  }
});
