// The webhook_deliveries table (store/webhook-store.ts) in both stores: one contract, run against
// a SQLite file and a real PostgreSQL server, then what only a shared server has: concurrent
// claims from two coordinators' pools never return the same delivery (SKIP LOCKED).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { Webhooks } from '../src/edge/webhooks.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { SqliteStore } from '../src/store/sqlite-store.ts';
import type { Store } from '../src/store/store.ts';
import type { NewDelivery } from '../src/store/webhook-store.ts';
import { DEFAULT_WEBHOOKS } from '../src/webhook-config.ts';
import { usePostgres } from './support/postgres.ts';
import { temporarySqliteStore } from './support/sqlite.ts';

type Factory = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

const delivery = (taskId: string, over: Partial<NewDelivery> = {}): NewDelivery => ({
  tenant: 'a',
  taskId,
  event: 'compute:dispatch:v1:success',
  url: 'https://hooks.example.com/flock',
  body: `{"task_id":"${taskId}"}`,
  createdAtMs: 1000,
  ...over,
});

function describeWebhookStore(name: string, factory: Factory): void {
  describe(`webhook store: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await factory());
      await store.migrate();
    });
    afterEach(async () => cleanup());

    test('claims due pending deliveries once, records attempts in order, lists per tenant and task', async () => {
      const w = store.webhookStore();
      const first = await w.insert(delivery('t1'));
      const second = await w.insert(delivery('t2', { createdAtMs: 1500 }));
      await w.insert(delivery('t1', { tenant: 'b', body: '{"b":1}' }));
      expect(second).toBeGreaterThan(first);
      // Not due before its creation time; due ones are claimed oldest first, `limit` at most.
      expect(await w.claimDue('me', 999, 60_000, 10)).toEqual([]);
      const claimed = await w.claimDue('me', 1200, 60_000, 2);
      expect(claimed.map((d) => [d.id, d.tenant, d.taskId, d.attempts, d.state])).toEqual([
        [first, 'a', 't1', [], 'pending'],
        [3, 'b', 't1', [], 'pending'],
      ]);
      expect(claimed[0]).toMatchObject({ body: '{"task_id":"t1"}', url: 'https://hooks.example.com/flock' });
      // Held until 60 000: nobody claims them again, not even their owner.
      expect((await w.claimDue('other', 2000, 70_000, 10)).map((d) => d.id)).toEqual([second]);
      // A 500, retried at 5000; another owner cannot record on it.
      const failed = { atMs: 1300, status: 500, error: 'HTTP 500' };
      expect(await w.recordAttempt(first, 'other', failed, { state: 'failed' })).toBe(false);
      expect(await w.recordAttempt(first, 'me', failed, { state: 'pending', nextAttemptAtMs: 5000 })).toBe(
        true,
      );
      expect(await w.claimDue('me', 4999, 80_000, 10)).toEqual([]);
      const again = await w.claimDue('me', 5000, 80_000, 10);
      expect(again.map((d) => [d.id, d.attempts.length])).toEqual([[first, 1]]);
      const ok = { atMs: 5001, status: 204, error: undefined };
      expect(await w.recordAttempt(first, 'me', ok, { state: 'delivered' })).toBe(true);
      // Finished: no more attempts recorded, never claimed again (the others' claims lapsed).
      expect(await w.recordAttempt(first, 'me', ok, { state: 'delivered' })).toBe(false);
      expect((await w.claimDue('me', 1e12, 1e12, 10)).map((d) => d.id)).toEqual([3, second]);
      const log = await w.list('a', 't1', 100);
      expect(log).toHaveLength(1);
      expect(log[0]).toEqual({
        id: first,
        tenant: 'a',
        taskId: 't1',
        event: 'compute:dispatch:v1:success',
        url: 'https://hooks.example.com/flock',
        body: '{"task_id":"t1"}',
        createdAtMs: 1000,
        state: 'delivered',
        nextAttemptAtMs: undefined,
        attempts: [
          { atMs: 1300, status: 500, error: 'HTTP 500' },
          { atMs: 5001, status: 204, error: undefined },
        ],
      });
      expect((await w.list('b', 't1', 100)).map((d) => d.body)).toEqual(['{"b":1}']);
      expect(await w.list('b', 't2', 100)).toEqual([]);
    });

    test('a lapsed claim is taken by another owner; the first can no longer record', async () => {
      const w = store.webhookStore();
      const id = await w.insert(delivery('t1'));
      expect((await w.claimDue('dead', 1000, 2000, 10)).map((d) => d.id)).toEqual([id]);
      expect((await w.claimDue('live', 2000, 9000, 10)).map((d) => d.id)).toEqual([id]);
      const attempt = { atMs: 2000, status: undefined, error: 'ECONNREFUSED: connect' };
      expect(await w.recordAttempt(id, 'dead', attempt, { state: 'failed' })).toBe(false);
      expect(await w.recordAttempt(id, 'live', attempt, { state: 'failed' })).toBe(true);
      expect((await w.list('a', 't1', 10))[0]).toMatchObject({
        state: 'failed',
        attempts: [{ atMs: 2000, status: undefined, error: 'ECONNREFUSED: connect' }],
      });
    });

    test('purge deletes finished deliveries made before the cutoff, oldest first, pending ones never', async () => {
      const w = store.webhookStore();
      const ids: number[] = [];
      for (const [i, at] of [1000, 2000, 3000, 4000, 9000].entries())
        ids.push(await w.insert(delivery(`p${i}`, { createdAtMs: at })));
      const claimed = await w.claimDue('me', 10_000, 60_000, 10);
      expect(claimed).toHaveLength(5);
      const end = (id: number, next: { state: 'delivered' } | { state: 'failed' }) =>
        w.recordAttempt(id, 'me', { atMs: 10_000, status: 200, error: undefined }, next);
      await end(ids[0]!, { state: 'delivered' });
      await end(ids[1]!, { state: 'failed' });
      await end(ids[3]!, { state: 'delivered' });
      await end(ids[4]!, { state: 'delivered' });
      await w.recordAttempt(
        ids[2]!,
        'me',
        { atMs: 10_000, status: 500, error: 'HTTP 500' },
        {
          state: 'pending',
          nextAttemptAtMs: 20_000,
        },
      );
      // Made before 5000: p0, p1 and p3 are finished, p2 pending stays; the limit takes the oldest.
      expect(await w.purge(5000, 2)).toBe(2);
      expect(await w.list('a', 'p0', 10)).toEqual([]);
      expect(await w.list('a', 'p1', 10)).toEqual([]);
      expect(await w.purge(5000, 10)).toBe(1);
      expect((await w.list('a', 'p2', 10)).map((d) => d.state)).toEqual(['pending']);
      expect((await w.list('a', 'p4', 10)).map((d) => d.state)).toEqual(['delivered']);
      expect(await w.purge(5000, 10)).toBe(0);
    });

    test("release gives up an owner's claims on pending deliveries only", async () => {
      const w = store.webhookStore();
      const mine = await w.insert(delivery('r1'));
      const done = await w.insert(delivery('r2'));
      const theirs = await w.insert(delivery('r3'));
      await w.claimDue('me', 1000, 60_000, 2);
      await w.claimDue('other', 1000, 60_000, 10);
      await w.recordAttempt(
        done,
        'me',
        { atMs: 1000, status: 200, error: undefined },
        { state: 'delivered' },
      );
      await w.release('me');
      // Mine is due again at once; the other owner's claim still holds.
      expect((await w.claimDue('next', 1001, 60_000, 10)).map((d) => d.id)).toEqual([mine]);
      expect(theirs).toBeGreaterThan(mine);
    });

    test("listByState pages a tenant's deliveries by state; redeliver resets a failed one only", async () => {
      const w = store.webhookStore();
      const ids: number[] = [];
      for (let i = 0; i < 4; i++) ids.push(await w.insert(delivery(`t${i}`, { createdAtMs: 1000 + i })));
      const other = await w.insert(delivery('t9', { tenant: 'b' }));
      await w.claimDue('me', 2000, 60_000, 10);
      const gone = { atMs: 1500, status: 400, error: 'HTTP 400' };
      for (const id of [ids[0]!, ids[1]!, ids[3]!, other])
        expect(await w.recordAttempt(id, 'me', gone, { state: 'failed' })).toBe(true);
      const ok = { atMs: 1500, status: 204, error: undefined };
      expect(await w.recordAttempt(ids[2]!, 'me', ok, { state: 'delivered' })).toBe(true);
      const page = (afterId: number, sinceMs = 0, state: 'failed' | 'delivered' = 'failed') =>
        w.listByState({ tenant: 'a', state, sinceMs, afterId, limit: 2 }).then((l) => l.map((d) => d.id));
      expect(await page(0)).toEqual([ids[0], ids[1]]);
      expect(await page(ids[1]!)).toEqual([ids[3]]);
      expect(await page(0, 1001)).toEqual([ids[1], ids[3]]);
      expect(await page(0, 0, 'delivered')).toEqual([ids[2]]);
      // Another tenant's or an unknown id: undefined, nothing changes.
      expect(await w.redeliver('b', ids[0]!, 9000)).toBeUndefined();
      expect(await w.redeliver('a', 999_999, 9000)).toBeUndefined();
      expect(await w.redeliver('a', ids[2]!, 9000)).toBe('delivered');
      expect(await w.redeliver('a', ids[0]!, 9000)).toBe('failed');
      // Now pending, due at 9000 with no attempts; a second redelivery finds it pending.
      expect(await w.redeliver('a', ids[0]!, 9100)).toBe('pending');
      expect(await w.claimDue('me', 8999, 70_000, 10)).toEqual([]);
      const [again] = await w.claimDue('me', 9000, 70_000, 10);
      expect(again).toMatchObject({ id: ids[0], state: 'pending', attempts: [], createdAtMs: 9000 });
      expect(await page(0)).toEqual([ids[1], ids[3]]);
      expect(
        (await w.listByState({ tenant: 'b', state: 'failed', sinceMs: 0, afterId: 0, limit: 10 })).map(
          (d) => d.id,
        ),
      ).toEqual([other]);
    });

    test('the master secret is the first one stored', async () => {
      const w = store.webhookStore();
      expect(await w.masterSecret('first-secret-0123456789')).toBe('first-secret-0123456789');
      expect(await w.masterSecret('second-secret-0123456789')).toBe('first-secret-0123456789');
    });
  });
}

test('Webhooks.purge follows FLOCK_RETENTION_DAYS: finished deliveries older than it go; 0 keeps all', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flock-webhooks-'));
  const store = new SqliteStore(dir);
  try {
    const w = store.webhookStore();
    const day = 24 * 3600_000;
    const now = 100 * day;
    const old = await w.insert(delivery('old', { createdAtMs: now - 3 * day }));
    const recent = await w.insert(delivery('recent', { createdAtMs: now - day / 2 }));
    await w.claimDue('me', now, now + 1000, 10);
    for (const id of [old, recent])
      await w.recordAttempt(id, 'me', { atMs: now, status: 200, error: undefined }, { state: 'delivered' });
    const log = pino({ level: 'silent' });
    const keepAll = new Webhooks(w, { ...DEFAULT_WEBHOOKS, retentionDays: 0, blobGcIntervalMs: 0 }, log);
    expect(await keepAll.purge(now)).toBe(0);
    const twoDays = new Webhooks(w, { ...DEFAULT_WEBHOOKS, retentionDays: 2, blobGcIntervalMs: 0 }, log);
    expect(await twoDays.purge(now)).toBe(1);
    expect(await w.list('a', 'old', 10)).toEqual([]);
    expect(await w.list('a', 'recent', 10)).toHaveLength(1);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

describeWebhookStore('SqliteStore', async () => temporarySqliteStore('flock-webhooks-'));

describe('PostgreSQL', () => {
  const harness = usePostgres();

  describeWebhookStore('PostgresStore', async () => {
    const store = new PostgresStore(await harness().createSchema(), { maxConnections: 3 });
    return { store, cleanup: () => store.close() };
  });

  test('two coordinators claiming at once never get the same delivery', async () => {
    const url = await harness().createSchema();
    const one = new PostgresStore(url, { maxConnections: 4 });
    const two = new PostgresStore(url, { maxConnections: 4 });
    try {
      await one.migrate();
      for (let i = 0; i < 60; i++) await one.webhookStore().insert(delivery(`t${i}`));
      const claims = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          (i % 2 === 0 ? one : two).webhookStore().claimDue(`c${i}`, 2000, 60_000, 7),
        ),
      );
      const ids = claims.flat().map((d) => d.id);
      expect(ids).toHaveLength(60);
      expect(new Set(ids).size).toBe(60);
    } finally {
      await one.close();
      await two.close();
    }
  });
});
