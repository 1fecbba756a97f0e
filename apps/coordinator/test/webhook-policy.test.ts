// The webhook rules without a server: which addresses are private, the lookup guard, the retry
// schedule (backoff, jitter, Retry-After, attempts and time bounds), the signature's known answer,
// and the FLOCK_WEBHOOK_* settings.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { retryAfterMs, tenantWebhookSecret, webhookSignature } from '../src/edge/webhook-post.ts';
import { guardedLookup, isPrivateAddress, isWebhookChannel } from '../src/edge/webhook-targets.ts';
import { nextAfter, webhookBackoffMs } from '../src/edge/webhooks.ts';
import { DEFAULT_WEBHOOKS } from '../src/webhook-config.ts';

describe('targets', () => {
  test('private, loopback, link-local and reserved addresses, IPv4-mapped included', () => {
    for (const a of [
      '127.0.0.1',
      '10.0.0.1',
      '172.16.5.4',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '::1',
      '::',
      'fd00::1',
      'fe80::1',
      '[::1]',
      '::ffff:127.0.0.1',
      '::ffff:10.1.1.1',
      // The hex spelling URL parsing gives mapped addresses, IPv4-compatible, NAT64 and 6to4 ones.
      '::ffff:7f00:1',
      '::127.0.0.1',
      '64:ff9b::7f00:1',
      '64:ff9b::a9fe:a9fe',
      '2002:c0a8:101::1',
    ])
      expect([a, isPrivateAddress(a)]).toEqual([a, true]);
    for (const a of [
      '93.184.216.34',
      '172.32.0.1',
      '8.8.8.8',
      '2606:4700::1111',
      '::ffff:8.8.8.8',
      '64:ff9b::808:808',
      '2002:808:808::1',
      'example.com',
    ])
      expect([a, isPrivateAddress(a)]).toEqual([a, false]);
  });

  test('only http(s) URLs are webhook channels', () => {
    expect(isWebhookChannel('https://x.example/h')).toBe(true);
    expect(isWebhookChannel('HTTP://x.example/h')).toBe(true);
    expect(isWebhookChannel('results')).toBe(false);
    expect(isWebhookChannel('httpsish')).toBe(false);
    expect(isWebhookChannel(undefined)).toBe(false);
  });

  test('the lookup guard refuses a name resolving to a private address, single or among several', async () => {
    const fake =
      (answer: string | Array<{ address: string; family: number }>) =>
      (_h: string, _o: object, cb: (err: null, a: unknown, f?: number) => void) =>
        cb(null, answer, 4);
    const ask = (answer: Parameters<typeof fake>[0]) =>
      new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
        guardedLookup(fake(answer))('hooks.example', {}, (err, address) => resolve({ err, address })),
      );
    expect(await ask('93.184.216.34')).toEqual({ err: null, address: '93.184.216.34' });
    const refused = await ask('127.0.0.1');
    expect(refused.err?.code).toBe('TARGET_FORBIDDEN');
    expect(refused.err?.message).toBe('hooks.example resolves to a private address (127.0.0.1)');
    const mixed = await ask([
      { address: '93.184.216.34', family: 4 },
      { address: '10.0.0.7', family: 4 },
    ]);
    expect(mixed.err?.code).toBe('TARGET_FORBIDDEN');
  });
});

describe('retries', () => {
  const settings = { ...DEFAULT_WEBHOOKS, webhookRetryBaseMs: 1000, webhookRetryMaxMs: 60_000 };
  const outcome = (over: object = {}) => ({
    status: 500,
    error: 'HTTP 500',
    delivered: false,
    retryable: true,
    retryAfterMs: undefined,
    ...over,
  });

  test('backoff doubles from the base up to the cap, jittered within its upper half', () => {
    expect([1, 2, 3, 4].map((n) => webhookBackoffMs(n, 1000, 60_000, () => 0))).toEqual([
      500, 1000, 2000, 4000,
    ]);
    expect([1, 2, 3, 4].map((n) => webhookBackoffMs(n, 1000, 60_000, () => 1))).toEqual([
      1000, 2000, 4000, 8000,
    ]);
    expect(webhookBackoffMs(30, 1000, 60_000, () => 1)).toBe(60_000);
    expect(webhookBackoffMs(30, 1000, 60_000, () => 0)).toBe(30_000);
  });

  test('delivered, refused, retried, Retry-After, out of attempts, out of time', () => {
    const half = () => 0.5;
    expect(nextAfter(outcome({ delivered: true, status: 200 }), 1, 0, 10, settings)).toEqual({
      state: 'delivered',
    });
    expect(nextAfter(outcome({ retryable: false, status: 404 }), 1, 0, 10, settings)).toEqual({
      state: 'failed',
    });
    expect(nextAfter(outcome(), 2, 0, 10_000, settings, half)).toEqual({
      state: 'pending',
      nextAttemptAtMs: 11_500,
    });
    expect(nextAfter(outcome({ status: 429, retryAfterMs: 7000 }), 1, 0, 10_000, settings)).toEqual({
      state: 'pending',
      nextAttemptAtMs: 17_000,
    });
    // A Retry-After longer than the longest wait is cut to it.
    expect(nextAfter(outcome({ retryAfterMs: 10 ** 9 }), 1, 0, 0, settings)).toEqual({
      state: 'pending',
      nextAttemptAtMs: 60_000,
    });
    expect(nextAfter(outcome(), 8, 0, 10, settings)).toEqual({ state: 'failed' });
    // Past FLOCK_WEBHOOK_GIVE_UP_MS after the event, no attempt is scheduled.
    const day = settings.webhookGiveUpMs;
    expect(nextAfter(outcome(), 1, 0, day - 100, settings, half)).toEqual({ state: 'failed' });
  });

  test('Retry-After in seconds or as an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs('Thu, 01 Jan 1970 00:00:10 GMT', 4000)).toBe(6000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });
});

test('the signature and the tenant secret: known answers (from openssl dgst -hmac; packages/client verifies the same vector)', () => {
  expect(tenantWebhookSecret('webhook-master-0123456789', 'acme')).toBe(
    'whsec_95dcec4de147fa2ab74acf71073d48811aab9fbdce123b4f5f5cce62ba49ac5b',
  );
  expect(webhookSignature('{"task_id":"t-1"}', 'whsec_test_secret', 1_765_000_000)).toBe(
    't=1765000000,v1=13d8a9724491bea8c1703f0eaa4414559b36ada8d9badc1700c1a8defbb4681f',
  );
});

describe('settings', () => {
  test('FLOCK_WEBHOOK_* are read and checked', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flock-webhook-ca-'));
    try {
      const ca = join(dir, 'ca.pem');
      writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
      const config = loadConfig({
        FLOCK_WEBHOOK_SECRET: 'master-secret-0123456789',
        FLOCK_WEBHOOK_MAX_ATTEMPTS: '3',
        FLOCK_WEBHOOK_RETRY_BASE_MS: '250',
        FLOCK_WEBHOOK_RETRY_MAX_MS: '5000',
        FLOCK_WEBHOOK_GIVE_UP_MS: '60000',
        FLOCK_WEBHOOK_TIMEOUT_MS: '2000',
        FLOCK_WEBHOOK_ALLOW_HTTP: '1',
        FLOCK_WEBHOOK_ALLOW_PRIVATE: '1',
        FLOCK_WEBHOOK_CA: ca,
      });
      expect(config).toMatchObject({
        webhookSecret: 'master-secret-0123456789',
        webhookMaxAttempts: 3,
        webhookRetryBaseMs: 250,
        webhookRetryMaxMs: 5000,
        webhookGiveUpMs: 60_000,
        webhookTimeoutMs: 2000,
        webhookAllowHttp: true,
        webhookAllowPrivate: true,
      });
      expect(config.webhookCa).toContain('BEGIN CERTIFICATE');
      expect(loadConfig({})).toMatchObject({
        webhookAllowHttp: false,
        webhookAllowPrivate: false,
        webhookMaxAttempts: 8,
      });
      const bad = (env: Record<string, string>, field: string) =>
        expect(() => loadConfig(env)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', field }));
      bad({ FLOCK_WEBHOOK_SECRET: 'short' }, 'FLOCK_WEBHOOK_SECRET');
      bad({ FLOCK_WEBHOOK_MAX_ATTEMPTS: '0' }, 'FLOCK_WEBHOOK_MAX_ATTEMPTS');
      bad({ FLOCK_WEBHOOK_TIMEOUT_MS: 'ten' }, 'FLOCK_WEBHOOK_TIMEOUT_MS');
      bad({ FLOCK_WEBHOOK_ALLOW_HTTP: 'yes' }, 'FLOCK_WEBHOOK_ALLOW_HTTP');
      bad({ FLOCK_WEBHOOK_CA: join(dir, 'missing.pem') }, 'FLOCK_WEBHOOK_CA');
      writeFileSync(ca, 'not a certificate');
      bad({ FLOCK_WEBHOOK_CA: ca }, 'FLOCK_WEBHOOK_CA');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
