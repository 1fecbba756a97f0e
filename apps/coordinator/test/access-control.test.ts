// Access control: keys with scopes (submit, read, cancel, admin, can_submit:<op pattern>) from the
// configuration and from /v1/keys; 403 FORBIDDEN naming the missing scope; keys stored hashed,
// listed, revoked (at once, open event streams closed); keys without scopes keep full power.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.ts';
import { KEY_CACHE_MS } from '../src/edge/api-keys.ts';
import { CLOSE_KEY_REVOKED } from '../src/edge/events-endpoint.ts';
import { envelope, type Json, KEY_A, KEY_B, startTest, type TestCoordinator } from './helpers.ts';

const READ = 'key-read-0123456789';
const SUM = 'key-sum-01234567890';
const CANCEL = 'key-cancel-0123456789';
const ADMIN_A = 'key-admin-a-0123456789';
const OPERATOR = 'key-operator-0123456789';
const CHANNEL = 'key-channel-0123456789';

let c: TestCoordinator | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

function start(dataDir?: string): Promise<TestCoordinator> {
  return startTest(
    {
      apiKeys: new Map([
        [KEY_A, 'a'],
        [KEY_B, 'b'],
        [READ, 'a'],
        [SUM, 'a'],
        [CANCEL, 'a'],
        [ADMIN_A, 'a'],
        [CHANNEL, 'a'],
      ]),
      adminKeys: new Map([[OPERATOR, 'ops']]),
      keyScopes: new Map([
        [READ, ['read']],
        [SUM, ['can_submit:su*']],
        [CANCEL, ['cancel']],
        [ADMIN_A, ['admin']],
        [CHANNEL, ['can_subscribe:jobs.*']],
      ]),
    },
    dataDir,
  );
}

/** status and error of a call (the error is undefined on success). */
async function call(path: string, key: string | null, init: { method?: string; json?: unknown } = {}) {
  const res = await c!.api(path, { key, ...init });
  const body = (await res.json()) as Json;
  return {
    status: res.status,
    error: body.error as { code: string; message: string; field?: string } | undefined,
    body,
  };
}

const forbidden = (scope: string, field?: string) => ({
  status: 403,
  error: { code: 'FORBIDDEN', message: `this key lacks the scope ${scope}`, ...(field ? { field } : {}) },
});

describe('scopes of configured keys', () => {
  test('each route needs its scope; 403 FORBIDDEN names the missing one; keys without scopes may do all', async () => {
    c = await start();
    expect(await call('/v1/tasks', READ)).toMatchObject({ status: 200, error: undefined });
    expect(await call('/v1/stats', READ)).toMatchObject({ status: 200 });
    expect(await call('/v1/tasks', READ, { method: 'POST', json: envelope('r1') })).toMatchObject(
      forbidden('submit'),
    );
    expect(await call('/v1/blobs', READ, { method: 'POST' })).toMatchObject(forbidden('submit'));
    expect(await call('/v1/tasks/r1', READ, { method: 'DELETE' })).toMatchObject(forbidden('cancel'));
    expect(await call('/v1/keys', READ)).toMatchObject(forbidden('admin'));
    expect(await call('/v1/tasks', CANCEL)).toMatchObject(forbidden('read'));
    // A key configured without scopes keeps full power in its tenant, keys included.
    expect(await call('/v1/tasks', KEY_A, { method: 'POST', json: envelope('full') })).toMatchObject({
      status: 201,
    });
    expect(await call('/v1/tasks/full', CANCEL, { method: 'DELETE' })).toMatchObject({ status: 200 });
    expect(await call('/v1/keys', KEY_A)).toMatchObject({ status: 200, body: { keys: [] } });
    // Unknown routes stay 404 whatever the key may do.
    expect(await call('/v1/nothing', READ)).toMatchObject({ status: 404, error: { code: 'NOT_FOUND' } });
  });

  test('can_submit:<pattern> admits only matching ops, in tasks and campaigns', async () => {
    c = await start();
    expect(await call('/v1/tasks', SUM, { method: 'POST', json: envelope('s1') })).toMatchObject({
      status: 201,
    });
    expect(
      await call('/v1/tasks', SUM, { method: 'POST', json: envelope('s2', { op: 'image.resize' }) }),
    ).toMatchObject(forbidden('can_submit:image.resize', 'op'));
    const campaign = { campaign_id: 'c1', tasks: [envelope('c1-0'), envelope('c1-1', { op: 'saxpy' })] };
    expect(await call('/v1/campaigns', SUM, { method: 'POST', json: campaign })).toMatchObject(
      forbidden('can_submit:saxpy', 'tasks[1].op'),
    );
    expect(await call('/v1/tasks/c1-0', KEY_A)).toMatchObject({ status: 404 });
    // It does not read: that needs `read`.
    expect(await call('/v1/tasks/s1', SUM)).toMatchObject(forbidden('read'));
  });

  test('FLOCK_API_KEYS entries take scopes after |, compatibly', () => {
    const config = loadConfig({
      FLOCK_API_KEYS: 'aaaaaaaaaaaaaaaa:t1|read|can_submit:image.*, bbbbbbbbbbbbbbbb:t2',
      FLOCK_ADMIN_KEYS: 'cccccccccccccccc:ops|admin',
    });
    expect([...config.apiKeys]).toEqual([
      ['aaaaaaaaaaaaaaaa', 't1'],
      ['bbbbbbbbbbbbbbbb', 't2'],
    ]);
    expect([...config.keyScopes]).toEqual([
      ['aaaaaaaaaaaaaaaa', ['read', 'can_submit:image.*']],
      ['cccccccccccccccc', ['admin']],
    ]);
    expect(() => loadConfig({ FLOCK_API_KEYS: 'aaaaaaaaaaaaaaaa:t1|write' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', field: 'FLOCK_API_KEYS' }),
    );
  });
});

describe('/v1/keys', () => {
  test('create returns the secret once; the key works with its scopes; list shows no secret', async () => {
    c = await start();
    const made = await call('/v1/keys', ADMIN_A, {
      method: 'POST',
      json: { scopes: ['read'], name: 'dashboard' },
    });
    expect(made.status).toBe(201);
    expect(made.body).toEqual({
      key_id: expect.stringMatching(/^k-[A-Za-z0-9_-]{12}$/),
      tenant: 'a',
      scopes: ['read'],
      name: 'dashboard',
      created_at_ms: expect.any(Number),
      key: expect.stringMatching(/^flock_[A-Za-z0-9_-]{32}$/),
    });
    const secret = made.body.key as string;
    expect(await call('/v1/tasks', secret)).toMatchObject({ status: 200 });
    expect(await call('/v1/tasks', secret, { method: 'POST', json: envelope('x') })).toMatchObject(
      forbidden('submit'),
    );
    const listed = await call('/v1/keys', ADMIN_A);
    const { key: _secret, ...view } = made.body;
    expect(listed).toMatchObject({ status: 200, body: { keys: [view] } });
    // Tenant b's admin-less key cannot see them; an operator sees every tenant's.
    expect(await call('/v1/keys', KEY_B)).toMatchObject({ status: 200, body: { keys: [] } });
    expect(await call('/v1/keys', OPERATOR)).toMatchObject({ status: 200, body: { keys: [view] } });
  });

  test('a tenant admin manages its own tenant only; an operator any; bad scopes are 400', async () => {
    c = await start();
    expect(
      await call('/v1/keys', ADMIN_A, { method: 'POST', json: { scopes: ['read'], tenant: 'b' } }),
    ).toMatchObject({
      status: 403,
      error: { code: 'FORBIDDEN', field: 'tenant' },
    });
    const forB = await call('/v1/keys', OPERATOR, {
      method: 'POST',
      json: { scopes: ['submit', 'read'], tenant: 'b' },
    });
    expect(forB).toMatchObject({ status: 201, body: { tenant: 'b', scopes: ['submit', 'read'] } });
    expect(await call('/v1/tasks', forB.body.key, { method: 'POST', json: envelope('b1') })).toMatchObject({
      status: 201,
    });
    expect(await call('/v1/tasks/b1', KEY_B)).toMatchObject({ status: 200 });
    expect(await call('/v1/keys?tenant=b', OPERATOR)).toMatchObject({ body: { keys: [{ tenant: 'b' }] } });
    expect(await call('/v1/keys?tenant=a', OPERATOR)).toMatchObject({ body: { keys: [] } });
    expect(await call('/v1/keys', ADMIN_A, { method: 'POST', json: { scopes: ['write'] } })).toMatchObject({
      status: 400,
      error: { code: 'INVALID_ARGUMENT', field: 'scopes[0]' },
    });
    expect(await call('/v1/keys', ADMIN_A, { method: 'POST', json: { scopes: [] } })).toMatchObject({
      status: 400,
      error: { code: 'INVALID_ARGUMENT', field: 'scopes' },
    });
    expect(
      await call('/v1/keys', ADMIN_A, { method: 'POST', json: { scopes: ['read'], role: 'x' } }),
    ).toMatchObject({
      status: 400,
      error: { code: 'INVALID_ARGUMENT', field: 'role' },
    });
  });

  test('revoke: the key stops at once, its open event stream closes, another tenant gets 404', async () => {
    c = await start();
    const made = await call('/v1/keys', ADMIN_A, { method: 'POST', json: { scopes: ['read'] } });
    const { key_id: keyId, key: secret } = made.body as { key_id: string; key: string };
    const ws = new WebSocket(`${c.url.replace('http', 'ws')}/v1/events?key=${secret}`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    expect(await call(`/v1/keys/${keyId}`, 'key-unknown-0123456789', { method: 'DELETE' })).toMatchObject({
      status: 401,
    });
    // Tenant b's key (no scope list: every scope in b) cannot revoke, or learn of, tenant a's key.
    expect(await call(`/v1/keys/${keyId}`, KEY_B, { method: 'DELETE' })).toMatchObject({
      status: 404,
      error: { code: 'NOT_FOUND' },
    });
    const revoked = await call(`/v1/keys/${keyId}`, ADMIN_A, { method: 'DELETE' });
    expect(revoked).toMatchObject({
      status: 200,
      body: { key_id: keyId, tenant: 'a', revoked_at_ms: expect.any(Number) },
    });
    expect(await closed).toBe(CLOSE_KEY_REVOKED);
    expect(await call('/v1/tasks', secret)).toMatchObject({
      status: 401,
      error: { code: 'UNAUTHENTICATED' },
    });
    // Revoking again keeps the first time; the list shows it revoked.
    expect(await call(`/v1/keys/${keyId}`, ADMIN_A, { method: 'DELETE' })).toMatchObject({
      body: { revoked_at_ms: revoked.body.revoked_at_ms },
    });
    expect(await call('/v1/keys/k-none', ADMIN_A, { method: 'DELETE' })).toMatchObject({
      status: 404,
      error: { code: 'NOT_FOUND' },
    });
    const refused = await new Promise<number>((resolve) => {
      const again = new WebSocket(`${c!.url.replace('http', 'ws')}/v1/events?key=${secret}`);
      again.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      again.once('open', () => resolve(101));
    });
    expect(refused).toBe(401);
  });

  test('stored hashed: the secret is nowhere in the data dir, and the key outlives a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flock-keys-'));
    c = await start(dir);
    const made = await call('/v1/keys', ADMIN_A, {
      method: 'POST',
      json: { scopes: ['read', 'can_submit:su*'] },
    });
    const secret = made.body.key as string;
    await c.stop();
    for (const file of readdirSync(dir).filter((f) => f.startsWith('flock.db'))) {
      expect(readFileSync(join(dir, file)).includes(secret), file).toBe(false);
    }
    c = await start(dir);
    expect(await call('/v1/tasks', secret, { method: 'POST', json: envelope('after') })).toMatchObject({
      status: 201,
    });
    expect(await call('/v1/tasks/after', secret)).toMatchObject({ status: 200 });
  });

  test('an events stream needs read', async () => {
    c = await start();
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${c!.url.replace('http', 'ws')}/v1/events?key=${SUM}`);
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
    });
    expect(status).toBe(403);
  });

  test('can_subscribe:<pattern> opens only matching return channels, and gets their terminal events', async () => {
    c = await start();
    const base = c.url.replace('http', 'ws');
    const open = (query: string) =>
      new Promise<{ status: number; ws?: WebSocket }>((resolve) => {
        const ws = new WebSocket(`${base}/v1/events?${query}`);
        ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
        ws.once('open', () => resolve({ status: 101, ws }));
      });
    expect((await open(`key=${CHANNEL}`)).status).toBe(403);
    expect((await open(`key=${CHANNEL}&channel=other`)).status).toBe(403);
    const { status, ws } = await open(`key=${CHANNEL}&channel=jobs.nightly`);
    expect(status).toBe(101);
    const message = new Promise<Json>((resolve) =>
      ws!.once('message', (data) => resolve(JSON.parse(String(data)))),
    );
    await call('/v1/tasks', KEY_A, {
      method: 'POST',
      json: envelope('ch1', { return_channel: 'jobs.nightly' }),
    });
    expect((await call('/v1/tasks/ch1', KEY_A, { method: 'DELETE' })).status).toBe(200);
    expect(await message).toMatchObject({
      topic: 'jobs.nightly',
      payload: { task_id: 'ch1', state: 'cancelled' },
    });
    ws!.close();
    // It reads nothing else.
    expect(await call('/v1/tasks', CHANNEL)).toMatchObject(forbidden('read'));
  });

  test('a key revoked through another coordinator (the shared store) closes this one’s streams within a round', async () => {
    c = await start();
    const made = await call('/v1/keys', ADMIN_A, { method: 'POST', json: { scopes: ['read'] } });
    const ws = new WebSocket(`${c.url.replace('http', 'ws')}/v1/events?key=${made.body.key}`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    const started = Date.now();
    // What another coordinator's DELETE /v1/keys/:id writes; this one hears nothing of it.
    await c.store.keyStore().revoke(made.body.key_id, undefined, started);
    expect(await closed).toBe(CLOSE_KEY_REVOKED);
    expect(Date.now() - started).toBeLessThanOrEqual(KEY_CACHE_MS + 2_000);
  }, 15_000);
});
