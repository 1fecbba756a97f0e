// The coordinator's settings as environment variables: which FLOCK_* variable sets which field of
// CoordinatorConfig and how each is parsed (integers, lists, on/off, fractions), and validation
// messages put in the operator's words. `loadConfig` (config.ts) resolves and validates the result.
import type { CoordinatorConfig } from './config.ts';
import { loadDeployConfig, parseOrigin } from './deploy-config.ts';
import { CoordinatorError } from './errors.ts';
import { loadKeyConfig } from './key-config.ts';

/** The integer variables, each with the field it sets (bounds are `validate`'s, in config.ts). */
const ENV_INTS: Array<[string, keyof CoordinatorConfig]> = [
  ['FLOCK_PORT', 'port'],
  ['FLOCK_MAX_FRAME_BYTES', 'maxFrameBytes'],
  ['FLOCK_MAX_BODY_BYTES', 'maxBodyBytes'],
  ['FLOCK_MAX_MODEL_BYTES', 'maxModelBytes'],
  ['FLOCK_HEADERS_TIMEOUT_MS', 'headersTimeoutMs'],
  ['FLOCK_REQUEST_TIMEOUT_MS', 'requestTimeoutMs'],
  ['FLOCK_IDLE_TIMEOUT_MS', 'idleTimeoutMs'],
  ['FLOCK_MAX_STREAM_BYTES', 'maxStreamBytes'],
  ['FLOCK_LEASE_MS', 'leaseMs'],
  ['FLOCK_HEARTBEAT_MS', 'heartbeatMs'],
  ['FLOCK_RETRY_BASE_MS', 'retryBaseMs'],
  ['FLOCK_MAX_ATTEMPTS', 'maxAttempts'],
  ['FLOCK_MAX_SLOTS', 'maxSlotsPerWorker'],
  ['FLOCK_WORKER_RATE', 'workerFramesPerSecond'],
  ['FLOCK_WORKER_BYTES_RATE', 'workerBytesPerSecond'],
  ['FLOCK_MAX_CONNECTIONS', 'maxConnections'],
  ['FLOCK_MAX_CONNECTIONS_PER_ADDRESS', 'maxConnectionsPerAddress'],
  ['FLOCK_HELLOS_PER_MINUTE', 'hellosPerMinute'],
  ['FLOCK_MAX_RUN_MS', 'maxRunMs'],
  ['FLOCK_INLINE_OUTPUT_BYTES', 'inlineOutputBytes'],
  ['FLOCK_MAX_BUFFERED_BYTES', 'maxBufferedBytes'],
  ['FLOCK_MAX_OPEN_BYTES', 'maxOpenBytes'],
  ['FLOCK_MAX_STORE_QUEUED', 'maxStoreQueued'],
  ['FLOCK_TRUST_THRESHOLD', 'trustThreshold'],
  ['FLOCK_BLOB_GC_MS', 'blobGcIntervalMs'],
  ['FLOCK_BLOB_GRACE_MS', 'blobGcGraceMs'],
  ['FLOCK_RETENTION_DAYS', 'retentionDays'],
  ['FLOCK_SLO_P95_MS', 'sloP95Ms'],
  ['FLOCK_SLO_WINDOW_MS', 'sloWindowMs'],
  ['FLOCK_BREAKER_FAILURES', 'breakerFailures'],
  ['FLOCK_BREAKER_COOLDOWN_MS', 'breakerCooldownMs'],
];

/**
 * The fields the FLOCK_* variables of `env` set (see the README's table), unset ones left out.
 * Throws `CoordinatorError('CONFIG_INVALID')` naming the variable on a value it cannot parse.
 */
export function configFromEnv(env: NodeJS.ProcessEnv): Partial<CoordinatorConfig> {
  const partial: Partial<CoordinatorConfig> = loadDeployConfig(env);
  const record = partial as Record<string, unknown>;
  for (const [name, key] of ENV_INTS) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (!/^\d+$/.test(raw.trim())) {
      throw new CoordinatorError(
        'CONFIG_INVALID',
        `${name} must be a non-negative integer, got "${raw}"`,
        name,
      );
    }
    record[key] = Number(raw.trim());
  }
  if (env.FLOCK_HOST) partial.host = env.FLOCK_HOST;
  if (env.FLOCK_DATA) partial.dataDir = env.FLOCK_DATA;
  if (env.FLOCK_PAGES_DIR) partial.pagesDir = env.FLOCK_PAGES_DIR;
  if (env.FLOCK_LOG_LEVEL) partial.logLevel = env.FLOCK_LOG_LEVEL;
  if (env.FLOCK_SQLITE_SYNC) {
    const sync = env.FLOCK_SQLITE_SYNC.toUpperCase();
    if (sync !== 'NORMAL' && sync !== 'FULL') {
      throw new CoordinatorError(
        'CONFIG_INVALID',
        'FLOCK_SQLITE_SYNC must be NORMAL or FULL',
        'FLOCK_SQLITE_SYNC',
      );
    }
    partial.sqliteSync = sync;
  }
  if (env.FLOCK_ALLOWED_ORIGINS) {
    partial.allowedOrigins = env.FLOCK_ALLOWED_ORIGINS.split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
      .map((s) => parseOrigin(s, 'FLOCK_ALLOWED_ORIGINS'));
  }
  if (env.FLOCK_EXTRA_OPS) {
    partial.extraOps = env.FLOCK_EXTRA_OPS.split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  }
  if (env.FLOCK_TRUSTED_PROXIES) {
    partial.trustedProxies = env.FLOCK_TRUSTED_PROXIES.split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  }
  Object.assign(partial, loadKeyConfig(env));
  if (env.FLOCK_SPOT_CHECKS) partial.spotChecks = onOff(env.FLOCK_SPOT_CHECKS, 'FLOCK_SPOT_CHECKS');
  if (env.FLOCK_SQLITE_THREAD) partial.sqliteThread = onOff(env.FLOCK_SQLITE_THREAD, 'FLOCK_SQLITE_THREAD');
  if (env.FLOCK_TAILS) partial.tailAcceleration = onOff(env.FLOCK_TAILS, 'FLOCK_TAILS');
  if (env.FLOCK_REMOTE_MODULES)
    partial.remoteModules = onOff(env.FLOCK_REMOTE_MODULES, 'FLOCK_REMOTE_MODULES');
  if (env.FLOCK_SPOT_CHECK_RATE)
    partial.spotCheckRate = fraction(env.FLOCK_SPOT_CHECK_RATE, 'FLOCK_SPOT_CHECK_RATE');
  if (env.FLOCK_SLO_SUCCESS) partial.sloSuccess = fraction(env.FLOCK_SLO_SUCCESS, 'FLOCK_SLO_SUCCESS');
  return partial;
}

/** The variable of each field `validate` may name besides ENV_INTS' (deploy fields name theirs). */
export const ENV_NAMES = new Map<string, string>([
  ...ENV_INTS.map(([name, key]): [string, string] => [key, name]),
  ['host', 'FLOCK_HOST'],
  ['logLevel', 'FLOCK_LOG_LEVEL'],
  ['sqliteSync', 'FLOCK_SQLITE_SYNC'],
  ['allowedOrigins', 'FLOCK_ALLOWED_ORIGINS'],
  ['trustedProxies', 'FLOCK_TRUSTED_PROXIES'],
  ['spotCheckRate', 'FLOCK_SPOT_CHECK_RATE'],
  ['sloSuccess', 'FLOCK_SLO_SUCCESS'],
]);

/**
 * `validate`'s message in the operator's words: the failing field and every other field it names
 * (`heartbeatMs must be shorter than leaseMs`) become their variables.
 */
export function withEnvNames(message: string, field: string): string {
  const named = message.replace(field, ENV_NAMES.get(field) ?? field);
  return named.replace(/\b[a-z]+[A-Z]\w*\b/g, (word) => ENV_NAMES.get(word) ?? word);
}

/** A number in 0..1 written as 0, 1, 0.25 or .25. */
function fraction(raw: string, variable: string): number {
  const text = raw.trim();
  const value = /^(0|1|0?\.\d+|1\.0*)$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 0 && value <= 1)) {
    throw new CoordinatorError(
      'CONFIG_INVALID',
      `${variable} must be a number in 0..1, got "${raw}"`,
      variable,
    );
  }
  return value;
}

function onOff(raw: string, variable: string): boolean {
  const v = raw.trim().toLowerCase();
  if (v !== 'on' && v !== 'off')
    throw new CoordinatorError('CONFIG_INVALID', `${variable} must be on or off`, variable);
  return v === 'on';
}
