// Keys made through POST /v1/keys with "signing": true (#19): the signing secret is returned once,
// kept in the store (SQLite and PostgreSQL) so the coordinator can verify HMACs after a restart,
// never listed; the key's tasks must be signed like a configured `|sign:` key's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { taskTokenOf } from '../src/edge/task-signatures.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { SqliteStore } from '../src/store/sqlite-store.ts';
import type { Store } from '../src/store/store.ts';
import { envelope, envelopeObj, type Json, KEY_A, startTest, type TestCoordinator } from './helpers.ts';
import { usePostgres } from './support/postgres.ts';

let c: TestCoordinator | undefined;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await c?.stop();
  c = undefined;
  for (const done of cleanups.splice(0).reverse()) await done();
});

async function post(path: string, key: string, json: unknown) {
  const res = await c!.api(path, { key, method: 'POST', json });
  return { status: res.status, body: (await res.json()) as Json };
}

/** The JSON view of task `id` signed with `secret` (the canonical form's HMAC). */
const signed = (id: string, secret: string) => ({
  ...envelope(id),
  security: { task_token: taskTokenOf(envelopeObj(id), secret) },
});

describe('POST /v1/keys with signing', () => {
  test('the secret is shown once; unsigned and wrongly signed tasks are refused; it survives a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flock-signing-keys-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    c = await startTest({}, dir);
    const made = await post('/v1/keys', KEY_A, { scopes: ['submit', 'read'], signing: true, name: 'ci' });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ tenant: 'a', scopes: ['submit', 'read'], name: 'ci', signing: true });
    const { key, signing_secret: secret } = made.body;
    expect(secret).toMatch(/^sign_[A-Za-z0-9_-]{32}$/);
    // Listed with `signing`, never with a secret.
    const listed = await (await c.api('/v1/keys')).json();
    expect(listed.keys).toEqual([expect.objectContaining({ key_id: made.body.key_id, signing: true })]);
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect(JSON.stringify(listed)).not.toContain(key);
    // Its tasks must be signed with that secret.
    expect(await post('/v1/tasks', key, envelope('u1'))).toMatchObject({
      status: 401,
      body: { error: { code: 'SIGNATURE_REQUIRED', field: 'security.task_token' } },
    });
    expect(await post('/v1/tasks', key, signed('u1', 'sign_another-secret-0123456789'))).toMatchObject({
      status: 401,
      body: { error: { code: 'BAD_SIGNATURE', field: 'security.task_token' } },
    });
    expect((await post('/v1/tasks', key, signed('s1', secret))).status).toBe(201);
    // A campaign's tasks too.
    const campaign = await post('/v1/campaigns', key, { tasks: [signed('s2', secret), envelope('s3')] });
    expect(campaign).toMatchObject({
      status: 401,
      body: { error: { field: 'tasks[1].security.task_token' } },
    });
    // A key made without `signing` is not asked to sign.
    const plain = await post('/v1/keys', KEY_A, { scopes: ['submit'] });
    expect(plain.body.signing).toBeUndefined();
    expect(plain.body.signing_secret).toBeUndefined();
    expect((await post('/v1/tasks', plain.body.key, envelope('p1'))).status).toBe(201);
    expect(await post('/v1/keys', KEY_A, { scopes: ['submit'], signing: 'yes' })).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_ARGUMENT', field: 'signing' } },
    });
    // After a restart the coordinator still verifies with the stored secret.
    await c.stop();
    c = await startTest({}, dir);
    expect((await post('/v1/tasks', key, signed('s4', secret))).status).toBe(201);
    expect((await post('/v1/tasks', key, envelope('u2'))).status).toBe(401);
  });
});

/** The stored signing secret in both stores: kept with the key, found by its hash, listed. */
function describeSigningStore(name: string, factory: () => Promise<Store>): void {
  test(`${name}: a key's signing secret is stored and read back; keys without one have none`, async () => {
    const store = await factory();
    await store.migrate();
    const keys = store.keyStore();
    const base = { tenant: 'a', scopes: ['submit'], name: undefined, createdAtMs: 5 };
    await keys.insert({ ...base, keyId: 'k-s', hash: 'hs', signingSecret: 'sign_0123456789abcdef' });
    await keys.insert({ ...base, keyId: 'k-p', hash: 'hp' });
    expect(await keys.byHash('hs')).toMatchObject({ keyId: 'k-s', signingSecret: 'sign_0123456789abcdef' });
    expect((await keys.byHash('hp'))?.signingSecret).toBeUndefined();
    expect((await keys.list('a')).map((k) => [k.keyId, k.signingSecret])).toEqual([
      ['k-p', undefined],
      ['k-s', 'sign_0123456789abcdef'],
    ]);
    expect((await keys.revoke('k-s', 'a', 9))?.signingSecret).toBe('sign_0123456789abcdef');
  });
}

describeSigningStore('SqliteStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flock-signing-store-'));
  const store = new SqliteStore(dir);
  cleanups.push(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return store;
});

describe('PostgreSQL', () => {
  const harness = usePostgres();
  describeSigningStore('PostgresStore', async () => {
    const store = new PostgresStore(await harness().createSchema(), { maxConnections: 2 });
    cleanups.push(() => store.close());
    return store;
  });
});
