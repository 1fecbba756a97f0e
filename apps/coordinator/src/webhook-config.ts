import { readFileSync } from 'node:fs';
import { CoordinatorError } from './errors.ts';

/**
 * Webhooks for `return_channel` URLs (edge/webhooks.ts): how each task's terminal event is posted,
 * signed and retried, and which targets are allowed. Env variables in the coordinator README.
 */
export interface WebhookSettings {
  /**
   * The master secret each tenant's signing secret is derived from (HMAC-SHA256(master, tenant)).
   * Env FLOCK_WEBHOOK_SECRET (16+ characters); default none: one is generated and kept in the store.
   */
  webhookSecret: string | undefined;
  /** Attempts per delivery in all, then it fails. Env FLOCK_WEBHOOK_MAX_ATTEMPTS, default 8. */
  webhookMaxAttempts: number;
  /** Backoff of retry n is up to base·2^(n−1), jittered. Env FLOCK_WEBHOOK_RETRY_BASE_MS, default 1000. */
  webhookRetryBaseMs: number;
  /** Longest wait between two attempts, Retry-After included. Env FLOCK_WEBHOOK_RETRY_MAX_MS, default 1 h. */
  webhookRetryMaxMs: number;
  /** No attempt starts later than this after the event. Env FLOCK_WEBHOOK_GIVE_UP_MS, default 24 h. */
  webhookGiveUpMs: number;
  /** One attempt's time limit (connect to response headers). Env FLOCK_WEBHOOK_TIMEOUT_MS, default 10000. */
  webhookTimeoutMs: number;
  /** Plain `http://` return channels too (development). Env FLOCK_WEBHOOK_ALLOW_HTTP=1, default 0. */
  webhookAllowHttp: boolean;
  /**
   * Targets on loopback, private, link-local and other non-public addresses too (SSRF guard off).
   * Env FLOCK_WEBHOOK_ALLOW_PRIVATE=1, default 0.
   */
  webhookAllowPrivate: boolean;
  /**
   * PEM certificate(s) trusted for webhook targets besides the system's (a private CA, a test
   * certificate). Env FLOCK_WEBHOOK_CA (a file); default none.
   */
  webhookCa: string | undefined;
}

export const DEFAULT_WEBHOOKS: WebhookSettings = {
  webhookSecret: undefined,
  webhookMaxAttempts: 8,
  webhookRetryBaseMs: 1000,
  webhookRetryMaxMs: 3600_000,
  webhookGiveUpMs: 24 * 3600_000,
  webhookTimeoutMs: 10_000,
  webhookAllowHttp: false,
  webhookAllowPrivate: false,
  webhookCa: undefined,
};

const INTS: ReadonlyArray<readonly [keyof WebhookSettings, number, number, string]> = [
  ['webhookMaxAttempts', 1, 100, 'FLOCK_WEBHOOK_MAX_ATTEMPTS'],
  ['webhookRetryBaseMs', 1, 3600_000, 'FLOCK_WEBHOOK_RETRY_BASE_MS'],
  ['webhookRetryMaxMs', 1, 7 * 24 * 3600_000, 'FLOCK_WEBHOOK_RETRY_MAX_MS'],
  ['webhookGiveUpMs', 1000, 30 * 24 * 3600_000, 'FLOCK_WEBHOOK_GIVE_UP_MS'],
  ['webhookTimeoutMs', 100, 600_000, 'FLOCK_WEBHOOK_TIMEOUT_MS'],
];

const FLAGS: ReadonlyArray<readonly ['webhookAllowHttp' | 'webhookAllowPrivate', string]> = [
  ['webhookAllowHttp', 'FLOCK_WEBHOOK_ALLOW_HTTP'],
  ['webhookAllowPrivate', 'FLOCK_WEBHOOK_ALLOW_PRIVATE'],
];

/** Reads the FLOCK_WEBHOOK_* variables; FLOCK_WEBHOOK_CA's file is read here (a bad path stops the start). */
export function loadWebhookConfig(env: NodeJS.ProcessEnv): Partial<WebhookSettings> {
  const partial: Partial<WebhookSettings> = {};
  const record = partial as Record<string, unknown>;
  for (const [key, , , variable] of INTS) {
    const raw = env[variable]?.trim();
    if (raw === undefined || raw === '') continue;
    if (!/^\d+$/.test(raw))
      throw new CoordinatorError('CONFIG_INVALID', `${variable} must be a non-negative integer`, variable);
    record[key] = Number(raw);
  }
  for (const [key, variable] of FLAGS) {
    const raw = env[variable]?.trim().toLowerCase();
    if (raw === undefined || raw === '') continue;
    if (!['0', '1', 'on', 'off'].includes(raw))
      throw new CoordinatorError('CONFIG_INVALID', `${variable} must be 1 or 0`, variable);
    partial[key] = raw === '1' || raw === 'on';
  }
  if (env.FLOCK_WEBHOOK_SECRET) partial.webhookSecret = env.FLOCK_WEBHOOK_SECRET;
  if (env.FLOCK_WEBHOOK_CA) {
    try {
      partial.webhookCa = readFileSync(env.FLOCK_WEBHOOK_CA, 'utf8');
    } catch {
      throw new CoordinatorError(
        'CONFIG_INVALID',
        `FLOCK_WEBHOOK_CA: cannot read "${env.FLOCK_WEBHOOK_CA}"`,
        'FLOCK_WEBHOOK_CA',
      );
    }
  }
  return partial;
}

/** Checks resolved webhook settings (set in code as well as from the environment). */
export function validateWebhooks(config: WebhookSettings): void {
  for (const [key, min, max, variable] of INTS) {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
      throw new CoordinatorError(
        'CONFIG_INVALID',
        `${variable} (${key}) must be an integer in ${min}..${max}`,
        variable,
      );
  }
  const secret = config.webhookSecret;
  if (secret !== undefined && (secret.length < 16 || !/^[\x21-\x7e]+$/.test(secret)))
    throw new CoordinatorError(
      'CONFIG_INVALID',
      'FLOCK_WEBHOOK_SECRET must be 16+ printable characters',
      'FLOCK_WEBHOOK_SECRET',
    );
  if (config.webhookCa !== undefined && !config.webhookCa.includes('-----BEGIN CERTIFICATE-----'))
    throw new CoordinatorError(
      'CONFIG_INVALID',
      'FLOCK_WEBHOOK_CA must hold PEM certificates',
      'FLOCK_WEBHOOK_CA',
    );
}
