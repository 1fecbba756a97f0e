// verifyWebhook: the coordinator's Flock-Signature (t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">)
// checked against a known answer (computed with openssl; the coordinator's webhook-policy test
// signs the same vector), tampering, another secret, stale and future times, malformed headers.
import { describe, expect, test } from 'vitest';
import { verifyWebhook, WEBHOOK_TOLERANCE_S } from '../src/index.ts';

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
