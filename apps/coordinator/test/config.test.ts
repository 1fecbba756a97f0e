import { describe, expect, test } from 'vitest';
import { clusterFromEnv } from '../src/cluster/cluster.ts';
import { loadConfig, resolveConfig } from '../src/config.ts';
import { CoordinatorError } from '../src/errors.ts';

function configError(env: Record<string, string>): { code: string; field: string | undefined } {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof CoordinatorError) return { code: err.code, field: err.field };
    throw err;
  }
  throw new Error('expected a configuration error');
}

function configMessage(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof CoordinatorError) return err.message;
    throw err;
  }
  throw new Error('expected a configuration error');
}

describe('loadConfig', () => {
  test('defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8787,
      host: '127.0.0.1',
      maxFrameBytes: 1 << 20,
      leaseMs: 30_000,
      heartbeatMs: 10_000,
      sqliteSync: 'NORMAL',
    });
    expect(c.dataDir.endsWith('.flock-data')).toBe(true);
    expect(c.apiKeys.size).toBe(0);
  });

  test('reads every variable it documents', () => {
    const c = loadConfig({
      FLOCK_PORT: '9000',
      FLOCK_HOST: '0.0.0.0',
      FLOCK_API_KEYS: 'aaaaaaaaaaaaaaaa:t1, bbbbbbbbbbbbbbbb:t2',
      FLOCK_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
      FLOCK_LEASE_MS: '6000',
      FLOCK_SQLITE_SYNC: 'full',
      FLOCK_SPOT_CHECKS: 'off',
      FLOCK_SPOT_CHECK_RATE: '0.25',
      FLOCK_TRUST_THRESHOLD: '20',
      FLOCK_BLOB_GC_MS: '0',
      FLOCK_BLOB_GRACE_MS: '7200000',
    });
    expect(loadConfig({ FLOCK_RETENTION_DAYS: '30' }).retentionDays).toBe(30);
    expect(loadConfig({}).remoteModules).toBe(true);
    expect(loadConfig({ FLOCK_REMOTE_MODULES: 'OFF' }).remoteModules).toBe(false);
    expect(c.port).toBe(9000);
    expect(c.host).toBe('0.0.0.0');
    expect([...c.apiKeys]).toEqual([
      ['aaaaaaaaaaaaaaaa', 't1'],
      ['bbbbbbbbbbbbbbbb', 't2'],
    ]);
    expect(c.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(c.heartbeatMs).toBe(2000);
    expect(c.sqliteSync).toBe('FULL');
    expect([c.spotChecks, c.spotCheckRate, c.trustThreshold]).toEqual([false, 0.25, 20]);
    expect([c.blobGcIntervalMs, c.blobGcGraceMs]).toEqual([0, 7_200_000]);
    const defaults = loadConfig({});
    expect([defaults.spotChecks, defaults.spotCheckRate, defaults.trustThreshold]).toEqual([true, 0.02, 10]);
  });

  test('bad values name the variable', () => {
    expect(configError({ FLOCK_PORT: 'eighty' })).toEqual({ code: 'CONFIG_INVALID', field: 'FLOCK_PORT' });
    expect(configError({ FLOCK_PORT: '70000' })).toEqual({ code: 'CONFIG_INVALID', field: 'FLOCK_PORT' });
    expect(configError({ FLOCK_API_KEYS: 'short:t' })).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_API_KEYS',
    });
    expect(configError({ FLOCK_SQLITE_SYNC: 'OFF' })).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_SQLITE_SYNC',
    });
    for (const rate of ['1.5', '-0.1', 'often', '1e-2']) {
      expect(configError({ FLOCK_SPOT_CHECK_RATE: rate })).toEqual({
        code: 'CONFIG_INVALID',
        field: 'FLOCK_SPOT_CHECK_RATE',
      });
    }
    expect(configError({ FLOCK_REMOTE_MODULES: 'no' })).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_REMOTE_MODULES',
    });
    expect(configError({ FLOCK_SPOT_CHECKS: 'yes' })).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_SPOT_CHECKS',
    });
    expect(configError({ FLOCK_TRUST_THRESHOLD: '0' })).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_TRUST_THRESHOLD',
    });
    expect(configError({ FLOCK_RETENTION_DAYS: '30', FLOCK_BLOB_GC_MS: '0' })).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_RETENTION_DAYS',
    });
    expect(configError({ FLOCK_LEASE_MS: '60000', FLOCK_BLOB_GRACE_MS: '30000' })).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_BLOB_GRACE_MS',
    });
    expect(configError({ FLOCK_LEASE_MS: '1000', FLOCK_HEARTBEAT_MS: '2000' })).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_HEARTBEAT_MS',
    });
  });

  test("a log level pino lacks, an origin that is no origin, and messages in the variables' words", () => {
    expect(configError({ FLOCK_LOG_LEVEL: 'loud' })).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_LOG_LEVEL',
    });
    expect(loadConfig({ FLOCK_LOG_LEVEL: 'silent' }).logLevel).toBe('silent');
    // Compared with the Origin header as written, `volunteer.example` would never match.
    expect(configError({ FLOCK_ALLOWED_ORIGINS: 'https://a.example, volunteer.example' })).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_ALLOWED_ORIGINS',
    });
    expect(loadConfig({ FLOCK_ALLOWED_ORIGINS: 'HTTPS://A.example/' }).allowedOrigins).toEqual([
      'https://a.example',
    ]);
    expect(() => resolveConfig({ allowedOrigins: ['https://a.example/'] })).toThrow(
      'allowedOrigins: write "https://a.example/" as its origin',
    );
    expect(configMessage({ FLOCK_LEASE_MS: '1000', FLOCK_HEARTBEAT_MS: '2000' })).toBe(
      'FLOCK_HEARTBEAT_MS must be shorter than FLOCK_LEASE_MS',
    );
    expect(configMessage({ FLOCK_LEASE_MS: '60000', FLOCK_BLOB_GRACE_MS: '30000' })).toBe(
      'FLOCK_BLOB_GRACE_MS must be at least FLOCK_LEASE_MS (a streamed output waits up to a lease for its result)',
    );
  });

  test('a key listed twice is refused without showing it', () => {
    const message = configMessage({
      FLOCK_API_KEYS: 'aaaaaaaaaaaaaaaa:t1,bbbbbbbbbbbbbbbb:t2,aaaaaaaaaaaaaaaa:t3',
    });
    expect(message).toBe('FLOCK_API_KEYS lists the key of its tenant "t3" twice');
    expect(configError({ FLOCK_ADMIN_KEYS: 'cccccccccccccccc:ops|read,cccccccccccccccc:ops' })).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_ADMIN_KEYS',
    });
    // In both lists it was silently the operator's key of "ops", its acme entry ignored.
    expect(
      configMessage({
        FLOCK_API_KEYS: 'aaaaaaaaaaaaaaaa:acme|read',
        FLOCK_ADMIN_KEYS: 'cccccccccccccccc:ops,aaaaaaaaaaaaaaaa:ops',
      }),
    ).toBe(
      'FLOCK_ADMIN_KEYS lists the key of its tenant "ops" that FLOCK_API_KEYS lists too (tenant "acme")',
    );
  });

  test('cluster settings are checked on SQLite too', () => {
    expect(clusterFromEnv({ FLOCK_PG_POOL: '4' })).toBeUndefined();
    for (const [name, value] of [
      ['FLOCK_PG_POOL', 'abc'],
      ['FLOCK_CLUSTER_DEAD_MS', '-1'],
      ['FLOCK_PG_SYNC_COMMIT', 'maybe'],
      ['FLOCK_COORDINATOR_ID', 'a b'],
    ] as const) {
      expect(() => clusterFromEnv({ FLOCK_STORE: 'sqlite', [name]: value })).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID', field: name }),
      );
    }
  });
});
