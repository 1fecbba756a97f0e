import { resolve } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { configFromEnv, ENV_NAMES, withEnvNames } from './config-env.ts';
import { checkCanonicalOrigins, DEFAULT_DEPLOY, type DeployConfig, validateDeploy } from './deploy-config.ts';
import { TrustedProxies } from './edge/client-address.ts';
import { CoordinatorError } from './errors.ts';
import type { KeyConfig } from './key-config.ts';

/**
 * 40 % of the heap V8 may grow to (`--max-old-space-size`; about 4 GiB by default on a 64-bit
 * machine with 16 GiB or more): about 1.4 million of the bench's small tasks (1.26 KB each by the
 * estimate, 0.9–1.0 KB of heap measured), the rest for requests in flight and garbage.
 */
export function defaultMaxOpenBytes(): number {
  return Math.floor(getHeapStatistics().heap_size_limit * 0.4);
}

/** SQLite `synchronous` setting: NORMAL survives a process kill (kill -9); FULL also power loss. */
export type SqliteSync = 'NORMAL' | 'FULL';

/** Everything the coordinator can be told; `loadConfig` fills it from the environment. */
export interface CoordinatorConfig extends DeployConfig, KeyConfig {
  /** TCP port; 0 picks a free one. Env FLOCK_PORT, default 8787. */
  port: number;
  /** Interface to listen on. Env FLOCK_HOST, default 127.0.0.1. */
  host: string;
  /** Data directory: SQLite file and content-addressed blobs. Env FLOCK_DATA, default ./.flock-data. */
  dataDir: string;
  /** Directory of the built pages (`/` and `/dashboard/`). Env FLOCK_PAGES_DIR, default ./dist/pages. */
  pagesDir: string;
  /**
   * Extra Origins allowed on /v1/worker besides the page's own, each `http(s)://host[:port]`.
   * Env FLOCK_ALLOWED_ORIGINS (comma list).
   */
  allowedOrigins: string[];
  /**
   * Names accepted as `module.kind = "builtin"` ops besides the page's own (@flock/shaders): ops this
   * deployment's volunteers run that the page does not ship, such as `sum`, which the simulated
   * volunteers of the tests and benches run. Env FLOCK_EXTRA_OPS (comma list), default none: a
   * misspelt op is refused at submit (400 UNKNOWN_OP).
   */
  extraOps: string[];
  /** Largest WebSocket frame a volunteer may send, bytes. Env FLOCK_MAX_FRAME_BYTES, default 1 MiB. */
  maxFrameBytes: number;
  /** Largest HTTP request body, bytes. Env FLOCK_MAX_BODY_BYTES, default 16 MiB. */
  maxBodyBytes: number;
  /**
   * Largest ONNX model upload (`POST /v1/modules` with `application/onnx`), bytes: models are
   * often far larger than modules. Env FLOCK_MAX_MODEL_BYTES, default 512 MiB (the ml library's
   * input limit, the model included).
   */
  maxModelBytes: number;
  /** A request's headers must arrive within this, ms (else 408 and close). Env FLOCK_HEADERS_TIMEOUT_MS, default 10000. */
  headersTimeoutMs: number;
  /** A whole request, body included, must arrive within this, ms. Env FLOCK_REQUEST_TIMEOUT_MS, default 120000. */
  requestTimeoutMs: number;
  /** A connection with no traffic either way for this long is closed, ms. Env FLOCK_IDLE_TIMEOUT_MS, default 30000. */
  idleTimeoutMs: number;
  /** Largest streamed output, bytes. Env FLOCK_MAX_STREAM_BYTES, default 256 MiB. */
  maxStreamBytes: number;
  /** Lease length, ms. Env FLOCK_LEASE_MS, default 30000. */
  leaseMs: number;
  /** Heartbeat interval told to volunteers, ms. Env FLOCK_HEARTBEAT_MS, default leaseMs / 3. */
  heartbeatMs: number;
  /** Base of the exponential retry backoff, ms. Env FLOCK_RETRY_BASE_MS, default 1000 (cap 60 s). */
  retryBaseMs: number;
  /** Attempts a task may use in all (lease losses included). Env FLOCK_MAX_ATTEMPTS, default 10. */
  maxAttempts: number;
  /** Concurrent leases one connection may hold, whatever it advertises. Env FLOCK_MAX_SLOTS, default 32. */
  maxSlotsPerWorker: number;
  /**
   * Frames per second one volunteer connection may send (burst 2x; over it: close 1008). Its work
   * (frames plus the entries of the lists they carry) is budgeted at 4x this rate: past the budget
   * the connection is not read until the budget refills. Env FLOCK_WORKER_RATE, default 2000.
   */
  workerFramesPerSecond: number;
  /**
   * Bytes per second one volunteer connection may send (burst 2 s); past it the connection is not
   * read until the budget refills. Env FLOCK_WORKER_BYTES_RATE, default 32 MiB.
   */
  workerBytesPerSecond: number;
  /** Open connections in all (HTTP and WebSocket). Env FLOCK_MAX_CONNECTIONS, default 10000. */
  maxConnections: number;
  /**
   * Open connections per client address: TCP connections per peer, and WebSockets per client
   * (behind a trusted proxy, the forwarded address). Env FLOCK_MAX_CONNECTIONS_PER_ADDRESS, default 512.
   */
  maxConnectionsPerAddress: number;
  /** Volunteer hellos per client address per minute (bursts of as many). Env FLOCK_HELLOS_PER_MINUTE, default 600. */
  hellosPerMinute: number;
  /**
   * Reverse proxies whose X-Forwarded-For gives the client address (IPs or CIDR blocks); from
   * anyone else the header is ignored. Env FLOCK_TRUSTED_PROXIES (comma list), default none.
   */
  trustedProxies: string[];
  /**
   * Longest a lease may run, ms, whatever the task's `permissions.timeout_ms` asks. A lease ends
   * at its task's time limit (timeout_ms, else 30 s, capped by this) plus one lease period of
   * grace, even while heartbeats renew it. Env FLOCK_MAX_RUN_MS, default 1 h.
   */
  maxRunMs: number;
  /**
   * Whether a task may name its WASM module by an http(s) uri: the coordinator fetches it once
   * (at most maxBodyBytes, hash verified) to instrument it with fuel. Off: such tasks are refused
   * and modules must be uploaded (POST /v1/modules) or sent inline. Env FLOCK_REMOTE_MODULES=on|off,
   * default on.
   */
  remoteModules: boolean;
  /** Outputs larger than this are stored as blobs and served by uri. Env FLOCK_INLINE_OUTPUT_BYTES, default 64 KiB. */
  inlineOutputBytes: number;
  /** Stop pushing to a socket whose send buffer exceeds this, bytes. Env FLOCK_MAX_BUFFERED_BYTES, default 4 MiB. */
  maxBufferedBytes: number;
  /**
   * Memory the queued and running tasks this coordinator holds may take, bytes (estimated:
   * `OpenTasks`); queued tasks past it wait in the store (engine/backlog.ts). 0: no limit.
   * Env FLOCK_MAX_OPEN_BYTES, default 40 % of the V8 heap limit.
   */
  maxOpenBytes: number;
  /** Queued tasks that may wait in the store past it; then 503 QUEUE_FULL. Env FLOCK_MAX_STORE_QUEUED, default 10 million; 0: none. */
  maxStoreQueued: number;
  /** SQLite synchronous mode. Env FLOCK_SQLITE_SYNC, default NORMAL. */
  sqliteSync: SqliteSync;
  /**
   * Whether the SQLite store runs on a worker thread of its own (store/sqlite-thread-store.ts):
   * its statements and commits leave the event loop, which pays where a second core is free.
   * Env FLOCK_SQLITE_THREAD=on|off, default off.
   */
  sqliteThread: boolean;
  /** pino level (one of LOG_LEVELS). Env FLOCK_LOG_LEVEL, default info. */
  logLevel: string;
  /**
   * Known-answer spot checks for workers that run verified tasks (TRUST.md). Off: nobody is
   * vetted, so no result is ever believed alone and quorums need no vetted member.
   * Env FLOCK_SPOT_CHECKS=on|off, default on.
   */
  spotChecks: boolean;
  /**
   * Service-level targets per op (`/v1/stats` ops, `flock_slo_violation`): p95 end-to-end latency,
   * ms (0: none; env FLOCK_SLO_P95_MS, default 0), success rate in 0..1 (0: none; env
   * FLOCK_SLO_SUCCESS, default 0.99), over a sliding window (env FLOCK_SLO_WINDOW_MS, default 5 min).
   */
  sloP95Ms: number;
  sloSuccess: number;
  sloWindowMs: number;
  /**
   * Circuit breaker per tenant and op: after this many non-retryable failures in a row on distinct
   * workers the op's tasks are held (0: never). Env FLOCK_BREAKER_FAILURES, default 5.
   */
  breakerFailures: number;
  /** An open breaker lets one task through again after this, ms. Env FLOCK_BREAKER_COOLDOWN_MS, default 5 min. */
  breakerCooldownMs: number;
  /**
   * Batch tails: a campaign 90 % done leaves slow volunteers out and copies its stragglers
   * (engine/campaign-tails.ts). Env FLOCK_TAILS=on|off, default on.
   */
  tailAcceleration: boolean;
  /** Share of dispatches to a vetted worker that are checks. Env FLOCK_SPOT_CHECK_RATE, default 0.02. */
  spotCheckRate: number;
  /** Validated results in a row before a worker may be believed alone. Env FLOCK_TRUST_THRESHOLD, default 10. */
  trustThreshold: number;
  /** How often unused blobs are collected, ms; 0: never. Env FLOCK_BLOB_GC_MS, default 6 h. */
  blobGcIntervalMs: number;
  /** Blobs younger than this are never collected, ms (at least the lease). Env FLOCK_BLOB_GRACE_MS, default 1 h. */
  blobGcGraceMs: number;
  /**
   * Finished tasks are deleted this many days after their last change, a workflow's step tasks with
   * the workflow once it ended that long ago (with every FLOCK_BLOB_GC_MS round); 0: kept for ever.
   * Env FLOCK_RETENTION_DAYS, default 0.
   */
  retentionDays: number;
}

/** The log levels pino knows; any other FLOCK_LOG_LEVEL stops the start. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const DEFAULT_CONFIG: Omit<
  CoordinatorConfig,
  | 'apiKeys'
  | 'adminKeys'
  | 'keyScopes'
  | 'signingSecrets'
  | 'allowedOrigins'
  | 'trustedProxies'
  | 'extraOps'
  | keyof DeployConfig
> = {
  port: 8787,
  host: '127.0.0.1',
  dataDir: './.flock-data',
  pagesDir: './dist/pages',
  maxFrameBytes: 1 << 20,
  maxBodyBytes: 16 << 20,
  maxModelBytes: 512 << 20,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  idleTimeoutMs: 30_000,
  maxStreamBytes: 256 << 20,
  leaseMs: 30_000,
  heartbeatMs: 10_000,
  retryBaseMs: 1000,
  maxAttempts: 10,
  maxSlotsPerWorker: 32,
  workerFramesPerSecond: 2000,
  workerBytesPerSecond: 32 << 20,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 512,
  hellosPerMinute: 600,
  remoteModules: true,
  maxRunMs: 3600_000,
  inlineOutputBytes: 64 << 10,
  maxBufferedBytes: 4 << 20,
  maxOpenBytes: defaultMaxOpenBytes(),
  maxStoreQueued: 10_000_000,
  sqliteSync: 'NORMAL',
  sqliteThread: false,
  logLevel: 'info',
  spotChecks: true,
  sloP95Ms: 0,
  sloSuccess: 0.99,
  sloWindowMs: 300_000,
  breakerFailures: 5,
  breakerCooldownMs: 300_000,
  tailAcceleration: true,
  spotCheckRate: 0.02,
  trustThreshold: 10,
  blobGcIntervalMs: 6 * 3600_000,
  blobGcGraceMs: 3600_000,
  retentionDays: 0,
};

/** Fills every unset field with its default; used by `startCoordinator` for partial configs. */
export function resolveConfig(partial: Partial<CoordinatorConfig> = {}): CoordinatorConfig {
  const leaseMs = partial.leaseMs ?? DEFAULT_CONFIG.leaseMs;
  const config: CoordinatorConfig = {
    ...DEFAULT_CONFIG,
    heartbeatMs: Math.max(50, Math.floor(leaseMs / 3)),
    apiKeys: new Map(),
    adminKeys: new Map(),
    keyScopes: new Map(),
    signingSecrets: new Map(),
    allowedOrigins: [],
    trustedProxies: [],
    extraOps: [],
    ...DEFAULT_DEPLOY,
    ...stripUndefined(partial),
  };
  config.dataDir = resolve(config.dataDir);
  config.pagesDir = resolve(config.pagesDir);
  validate(config);
  return config;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validate(config: CoordinatorConfig): void {
  const ints: Array<[keyof CoordinatorConfig, number, number]> = [
    ['port', 0, 65535],
    ['maxFrameBytes', 1024, 64 << 20],
    ['maxBodyBytes', 1024, 1 << 30],
    ['maxModelBytes', 1024, 2 ** 31],
    ['headersTimeoutMs', 100, 3600_000],
    ['requestTimeoutMs', 100, 24 * 3600_000],
    ['idleTimeoutMs', 100, 24 * 3600_000],
    ['maxStreamBytes', 1024, 16 * 2 ** 30],
    ['leaseMs', 100, 24 * 3600_000],
    ['heartbeatMs', 10, 24 * 3600_000],
    ['retryBaseMs', 0, 3600_000],
    ['maxAttempts', 1, 1000],
    ['maxSlotsPerWorker', 1, 4096],
    ['workerFramesPerSecond', 1, 1_000_000],
    ['workerBytesPerSecond', 1024, 2 ** 40],
    ['maxConnections', 1, 1_000_000],
    ['maxConnectionsPerAddress', 1, 1_000_000],
    ['hellosPerMinute', 1, 1_000_000],
    ['maxRunMs', 1000, 30 * 24 * 3600_000],
    ['inlineOutputBytes', 0, 64 << 20],
    ['maxBufferedBytes', 1024, 1 << 30],
    ['maxOpenBytes', 0, 2 ** 50],
    ['maxStoreQueued', 0, 2 ** 40],
    ['trustThreshold', 1, 1_000_000],
    ['blobGcIntervalMs', 0, 7 * 24 * 3600_000],
    ['blobGcGraceMs', 0, 30 * 24 * 3600_000],
    ['retentionDays', 0, 36500],
    ['sloP95Ms', 0, 24 * 3600_000],
    ['sloWindowMs', 1000, 24 * 3600_000],
    ['breakerFailures', 0, 1000],
    ['breakerCooldownMs', 1000, 7 * 24 * 3600_000],
  ];
  for (const [key, min, max] of ints) {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new CoordinatorError('CONFIG_INVALID', `${key} must be an integer in ${min}..${max}`, key);
    }
  }
  if (config.heartbeatMs >= config.leaseMs) {
    throw new CoordinatorError('CONFIG_INVALID', 'heartbeatMs must be shorter than leaseMs', 'heartbeatMs');
  }
  if (config.requestTimeoutMs < config.headersTimeoutMs) {
    throw new CoordinatorError(
      'CONFIG_INVALID',
      'requestTimeoutMs must be at least headersTimeoutMs',
      'requestTimeoutMs',
    );
  }
  if (config.retentionDays > 0 && config.blobGcIntervalMs === 0) {
    throw new CoordinatorError(
      'CONFIG_INVALID',
      'retentionDays needs housekeeping rounds: blobGcIntervalMs must not be 0',
      'retentionDays',
    );
  }
  if (config.blobGcIntervalMs > 0 && config.blobGcGraceMs < config.leaseMs) {
    throw new CoordinatorError(
      'CONFIG_INVALID',
      'blobGcGraceMs must be at least leaseMs (a streamed output waits up to a lease for its result)',
      'blobGcGraceMs',
    );
  }
  // Throws CONFIG_INVALID naming the entry that is neither an address nor a CIDR block.
  new TrustedProxies(config.trustedProxies);
  validateDeploy(config);
  if (typeof config.sloSuccess !== 'number' || !(config.sloSuccess >= 0 && config.sloSuccess <= 1)) {
    throw new CoordinatorError('CONFIG_INVALID', 'sloSuccess must be a number in 0..1', 'sloSuccess');
  }
  const rate = config.spotCheckRate;
  if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) {
    throw new CoordinatorError('CONFIG_INVALID', 'spotCheckRate must be a number in 0..1', 'spotCheckRate');
  }
  if (config.sqliteSync !== 'NORMAL' && config.sqliteSync !== 'FULL') {
    throw new CoordinatorError('CONFIG_INVALID', 'sqliteSync must be NORMAL or FULL', 'sqliteSync');
  }
  if (!(LOG_LEVELS as readonly string[]).includes(config.logLevel)) {
    throw new CoordinatorError(
      'CONFIG_INVALID',
      `logLevel must be one of ${LOG_LEVELS.join(', ')}, got "${config.logLevel}"`,
      'logLevel',
    );
  }
  // The hub compares the Origin header with these as written: only a canonical origin can match.
  checkCanonicalOrigins(config.allowedOrigins, 'allowedOrigins');
}

/**
 * Reads the configuration from environment variables (see the README's table) and validates it.
 * Throws `CoordinatorError('CONFIG_INVALID')` naming the variable on bad input.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): CoordinatorConfig {
  const partial = configFromEnv(env);
  try {
    return resolveConfig(partial);
  } catch (err) {
    if (err instanceof CoordinatorError && err.field !== undefined) {
      const envName = ENV_NAMES.get(err.field) ?? err.field;
      throw new CoordinatorError('CONFIG_INVALID', withEnvNames(err.message, err.field), envName);
    }
    throw err;
  }
}
