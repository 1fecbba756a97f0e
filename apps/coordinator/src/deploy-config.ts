import type { TenantLimitSettings } from './edge/tenant-limits.ts';
import { CoordinatorError } from './errors.ts';
import {
  DEFAULT_WEBHOOKS,
  loadWebhookConfig,
  validateWebhooks,
  type WebhookSettings,
} from './webhook-config.ts';

/** How the coordinator's port speaks: plain HTTP, or HTTPS/WSS with given or generated credentials. */
export type TlsSetting =
  | { kind: 'off' }
  /** PEM files (`FLOCK_TLS_CERT`, `FLOCK_TLS_KEY`); the certificate file may hold the chain. */
  | { kind: 'files'; certFile: string; keyFile: string }
  /** A development certificate made at the first start and kept in the data dir (`FLOCK_TLS=self-signed`). */
  | { kind: 'self-signed' };

/**
 * What running beyond localhost needs: TLS, the public address, the origins CORS allows, and
 * per-tenant limits on submissions (env FLOCK_TENANT_SUBMIT_RATE, FLOCK_TENANT_SUBMIT_BURST,
 * FLOCK_TENANT_MAX_QUEUED, FLOCK_TENANT_MAX_RUNNING, FLOCK_TENANT_MAX_STORED_BYTES; defaults: no
 * limit, burst 20).
 */
export interface DeployConfig extends TenantLimitSettings, WebhookSettings {
  /** Env FLOCK_TLS_CERT + FLOCK_TLS_KEY, or FLOCK_TLS=self-signed; default off (plain HTTP). */
  tls: TlsSetting;
  /**
   * The origin volunteers and requesters reach the coordinator at (e.g. behind a reverse proxy):
   * the URLs printed at start use it, and its origin is always allowed on `/v1/worker`. Env
   * FLOCK_PUBLIC_URL, default none (the listening address).
   */
  publicUrl: string | undefined;
  /**
   * Origins of requester web apps allowed to call the REST API from a browser (CORS). Env
   * FLOCK_CORS_ORIGINS (comma list of `http(s)://host[:port]`), default none: no CORS headers.
   */
  corsOrigins: string[];
}

export const DEFAULT_DEPLOY: DeployConfig = {
  tls: { kind: 'off' },
  publicUrl: undefined,
  corsOrigins: [],
  tenantSubmitRate: 0,
  tenantSubmitBurst: 20,
  tenantMaxQueued: 0,
  tenantMaxRunning: 0,
  tenantMaxStoredBytes: 0,
  ...DEFAULT_WEBHOOKS,
};

/** `https://host[:port]` with no path, query or credentials; the canonical spelling (no trailing slash). */
export function parseOrigin(raw: string, variable: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new CoordinatorError('CONFIG_INVALID', `${variable}: "${raw}" is not a URL`, variable);
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.pathname !== '/' ||
    url.search !== '' ||
    url.hash !== '' ||
    url.username !== '' ||
    url.password !== ''
  ) {
    throw new CoordinatorError(
      'CONFIG_INVALID',
      `${variable}: "${raw}" must be http(s)://host[:port] with no path`,
      variable,
    );
  }
  return url.origin;
}

/**
 * Each of `origins` (a setting set in code as well as from the environment) must be an origin
 * written as `parseOrigin` writes it: they are compared with an Origin header as written.
 */
export function checkCanonicalOrigins(origins: readonly string[], setting: string): void {
  for (const origin of origins) {
    if (parseOrigin(origin, setting) !== origin)
      throw new CoordinatorError('CONFIG_INVALID', `${setting}: write "${origin}" as its origin`, setting);
  }
}

/** Checks a resolved deploy configuration (fields set in code as well as from the environment). */
export function validateDeploy(config: DeployConfig): void {
  for (const [key, max, variable] of LIMITS) {
    const value = config[key];
    const whole = key !== 'tenantSubmitRate';
    if (!Number.isFinite(value) || (whole && !Number.isInteger(value)) || value < 0 || value > max)
      throw new CoordinatorError(
        'CONFIG_INVALID',
        `${variable} (${key}) must be ${whole ? 'an integer' : 'a number'} in 0..${max}`,
        variable,
      );
  }
  validateWebhooks(config);
  const { tls } = config;
  if (tls.kind === 'files' && (tls.certFile === '' || tls.keyFile === '')) {
    throw new CoordinatorError('CONFIG_INVALID', 'tls needs both certFile and keyFile', 'tls');
  }
  if (config.publicUrl !== undefined) parseOrigin(config.publicUrl, 'publicUrl');
  checkCanonicalOrigins(config.corsOrigins, 'corsOrigins');
}

/** The limit settings, their variables and largest values. */
const LIMITS: ReadonlyArray<readonly [keyof TenantLimitSettings, number, string]> = [
  ['tenantSubmitRate', 1_000_000, 'FLOCK_TENANT_SUBMIT_RATE'],
  ['tenantSubmitBurst', 1_000_000, 'FLOCK_TENANT_SUBMIT_BURST'],
  ['tenantMaxQueued', 1_000_000_000, 'FLOCK_TENANT_MAX_QUEUED'],
  ['tenantMaxRunning', 1_000_000, 'FLOCK_TENANT_MAX_RUNNING'],
  ['tenantMaxStoredBytes', 2 ** 50, 'FLOCK_TENANT_MAX_STORED_BYTES'],
];

/** Reads FLOCK_TLS, FLOCK_TLS_CERT, FLOCK_TLS_KEY, FLOCK_PUBLIC_URL and FLOCK_CORS_ORIGINS. */
export function loadDeployConfig(env: NodeJS.ProcessEnv): Partial<DeployConfig> {
  const partial: Partial<DeployConfig> = loadWebhookConfig(env);
  const cert = env.FLOCK_TLS_CERT ?? '';
  const key = env.FLOCK_TLS_KEY ?? '';
  const mode = (env.FLOCK_TLS ?? '').trim().toLowerCase();
  if (mode !== '' && mode !== 'self-signed' && mode !== 'off') {
    throw new CoordinatorError('CONFIG_INVALID', 'FLOCK_TLS must be self-signed or off', 'FLOCK_TLS');
  }
  if ((cert === '') !== (key === '')) {
    throw new CoordinatorError(
      'CONFIG_INVALID',
      'FLOCK_TLS_CERT and FLOCK_TLS_KEY must be set together',
      cert === '' ? 'FLOCK_TLS_CERT' : 'FLOCK_TLS_KEY',
    );
  }
  if (cert !== '' && mode !== '') {
    throw new CoordinatorError(
      'CONFIG_INVALID',
      'FLOCK_TLS must not be set with FLOCK_TLS_CERT/FLOCK_TLS_KEY',
      'FLOCK_TLS',
    );
  }
  if (cert !== '') partial.tls = { kind: 'files', certFile: cert, keyFile: key };
  else if (mode === 'self-signed') partial.tls = { kind: 'self-signed' };
  if (env.FLOCK_PUBLIC_URL) partial.publicUrl = parseOrigin(env.FLOCK_PUBLIC_URL, 'FLOCK_PUBLIC_URL');
  if (env.FLOCK_CORS_ORIGINS) {
    partial.corsOrigins = env.FLOCK_CORS_ORIGINS.split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
      .map((s) => parseOrigin(s, 'FLOCK_CORS_ORIGINS'));
  }
  for (const [key, , variable] of LIMITS) {
    const raw = env[variable]?.trim();
    if (raw === undefined || raw === '') continue;
    // The rate may be a fraction (0.5: one submission every 2 s); the counts are whole.
    const whole = key !== 'tenantSubmitRate';
    const pattern = whole ? /^\d+$/ : /^(\d+|\d*\.\d+)$/;
    if (!pattern.test(raw)) {
      const what = whole ? 'a non-negative integer' : 'a non-negative number';
      throw new CoordinatorError('CONFIG_INVALID', `${variable} must be ${what}, got "${raw}"`, variable);
    }
    partial[key] = Number(raw);
  }
  return partial;
}
