import { describe, expect, test } from 'vitest';
import { loadConfig } from '../src/config.ts';
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

describe('TLS and public URL settings', () => {
  test('defaults: plain HTTP, no public URL', () => {
    const c = loadConfig({});
    expect(c.tls).toEqual({ kind: 'off' });
    expect(c.publicUrl).toBeUndefined();
  });

  test('FLOCK_TLS=self-signed, FLOCK_TLS_CERT + FLOCK_TLS_KEY, FLOCK_PUBLIC_URL', () => {
    expect(loadConfig({ FLOCK_TLS: 'self-signed' }).tls).toEqual({ kind: 'self-signed' });
    expect(loadConfig({ FLOCK_TLS: 'off' }).tls).toEqual({ kind: 'off' });
    expect(
      loadConfig({ FLOCK_TLS_CERT: '/etc/flock/cert.pem', FLOCK_TLS_KEY: '/etc/flock/key.pem' }).tls,
    ).toEqual({
      kind: 'files',
      certFile: '/etc/flock/cert.pem',
      keyFile: '/etc/flock/key.pem',
    });
    // The canonical origin: lower-case host, default port dropped, no trailing slash.
    expect(loadConfig({ FLOCK_PUBLIC_URL: 'https://Flock.Example.org:443/' }).publicUrl).toBe(
      'https://flock.example.org',
    );
    expect(loadConfig({ FLOCK_PUBLIC_URL: 'https://flock.test:8443' }).publicUrl).toBe(
      'https://flock.test:8443',
    );
  });

  test('bad values name their variable', () => {
    expect(configError({ FLOCK_TLS: 'yes' })).toEqual({ code: 'CONFIG_INVALID', field: 'FLOCK_TLS' });
    expect(configError({ FLOCK_TLS_CERT: '/c.pem' })).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_TLS_KEY',
    });
    expect(configError({ FLOCK_TLS_KEY: '/k.pem' })).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_TLS_CERT',
    });
    expect(
      configError({ FLOCK_TLS: 'self-signed', FLOCK_TLS_CERT: '/c.pem', FLOCK_TLS_KEY: '/k.pem' }),
    ).toEqual({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_TLS',
    });
    for (const url of [
      'flock.test',
      'ftp://flock.test',
      'https://flock.test/app',
      'https://u:p@flock.test',
    ]) {
      expect(configError({ FLOCK_PUBLIC_URL: url })).toEqual({
        code: 'CONFIG_INVALID',
        field: 'FLOCK_PUBLIC_URL',
      });
    }
  });
});
