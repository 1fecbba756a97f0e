// CORS for requester web apps: off by default, FLOCK_CORS_ORIGINS echoes listed origins on the
// REST API (answers and errors), answers their preflights, refuses others' preflights, and never
// touches the volunteer endpoints.
import { afterEach, describe, expect, test } from 'vitest';
import { type Json, KEY_A, startTest, type TestCoordinator } from './helpers.ts';

const APP = 'https://app.example';
let c: TestCoordinator | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

/** A preflight for `POST path` with a bearer key and JSON, as a browser sends it. */
function preflight(path: string, origin: string): Promise<Response> {
  return fetch(`${c!.url}${path}`, {
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization, content-type',
    },
  });
}

const cors = (res: Response) => ({
  status: res.status,
  allowOrigin: res.headers.get('access-control-allow-origin'),
  vary: res.headers.get('vary'),
});

describe('CORS off (no FLOCK_CORS_ORIGINS)', () => {
  test('no CORS header anywhere; a preflight is not answered', async () => {
    c = await startTest();
    expect(cors(await preflight('/v1/tasks', APP))).toEqual({ status: 401, allowOrigin: null, vary: null });
    const list = await c.api('/v1/tasks', { headers: { Origin: APP } });
    expect(cors(list)).toEqual({ status: 200, allowOrigin: null, vary: null });
  });
});

describe('FLOCK_CORS_ORIGINS', () => {
  test('a listed origin: preflight 204 with the methods and headers, answers and errors carry it', async () => {
    c = await startTest({ corsOrigins: [APP, 'http://localhost:5173'] });
    const pre = await preflight('/v1/tasks', APP);
    expect(cors(pre)).toEqual({ status: 204, allowOrigin: APP, vary: 'Origin' });
    expect(pre.headers.get('access-control-allow-methods')).toBe('GET, POST, DELETE');
    expect(pre.headers.get('access-control-allow-headers')).toBe(
      'Authorization, Content-Type, Accept, Accept-Encoding, traceparent',
    );
    expect(pre.headers.get('access-control-max-age')).toBe('600');
    expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
    expect(await pre.text()).toBe('');
    expect(cors(await preflight('/v1/campaigns', 'http://localhost:5173'))).toMatchObject({
      status: 204,
      allowOrigin: 'http://localhost:5173',
    });

    const list = await c.api('/v1/tasks', { headers: { Origin: APP } });
    expect(cors(list)).toEqual({ status: 200, allowOrigin: APP, vary: 'Origin' });
    expect(list.headers.get('access-control-expose-headers')).toBe(
      'Retry-After, Content-Disposition, Content-Encoding, traceparent',
    );
    // The app can read why it was refused.
    const noKey = await c.api('/v1/tasks', { key: null, headers: { Origin: APP } });
    expect(cors(noKey)).toEqual({ status: 401, allowOrigin: APP, vary: 'Origin' });
    expect((await noKey.json()).error.code).toBe('UNAUTHENTICATED');
    const missing = await c.api('/v1/tasks/nope', { headers: { Origin: APP } });
    expect(cors(missing)).toEqual({ status: 404, allowOrigin: APP, vary: 'Origin' });
  });

  test('an unlisted origin: preflight 403 ORIGIN_NOT_ALLOWED, answers without CORS headers', async () => {
    c = await startTest({ corsOrigins: [APP] });
    const pre = await preflight('/v1/tasks', 'https://evil.example');
    expect(cors(pre)).toEqual({ status: 403, allowOrigin: null, vary: 'Origin' });
    expect(((await pre.json()) as Json).error.code).toBe('ORIGIN_NOT_ALLOWED');
    // The origin is compared exactly: scheme and port are part of it.
    expect(cors(await preflight('/v1/tasks', 'http://app.example'))).toMatchObject({
      status: 403,
      allowOrigin: null,
    });
    const list = await c.api('/v1/tasks', { headers: { Origin: 'https://evil.example' } });
    expect(cors(list)).toEqual({ status: 200, allowOrigin: null, vary: 'Origin' });
  });

  test('volunteer endpoints, pages, health and metrics never answer CORS', async () => {
    c = await startTest({ corsOrigins: [APP] });
    const hash = `sha256:${'0'.repeat(64)}`;
    for (const path of [
      `/v1/modules/${hash}`,
      '/v1/libs/image/none.wasm',
      `/v1/leases/l-1/inputs/x`,
      '/',
      '/healthz',
      '/metrics',
    ]) {
      const res = await fetch(`${c.url}${path}`, {
        headers: { Origin: APP, Authorization: `Bearer ${KEY_A}` },
      });
      expect(res.headers.get('access-control-allow-origin'), path).toBeNull();
      const pre = await preflight(path, APP);
      expect(pre.status, path).not.toBe(204);
      expect(pre.headers.get('access-control-allow-origin'), path).toBeNull();
    }
  });
});

describe('FLOCK_CORS_ORIGINS in the environment', () => {
  test('is read as canonical origins; a path or a bad scheme stops the start', async () => {
    const { loadConfig } = await import('../src/config.ts');
    expect(
      loadConfig({ FLOCK_CORS_ORIGINS: 'https://App.Example/, http://localhost:5173' }).corsOrigins,
    ).toEqual(['https://app.example', 'http://localhost:5173']);
    for (const bad of ['https://app.example/ui', 'app.example', 'file:///x']) {
      expect(() => loadConfig({ FLOCK_CORS_ORIGINS: bad })).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID', field: 'FLOCK_CORS_ORIGINS' }),
      );
    }
  });
});
