import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  MAX_UNCONFIRMED,
  MemoryTrustStore,
  resolvePolicy,
  SqliteTrustStore,
  type TaskVerification,
  TrustEngine,
  type TrustStore,
  type WorkerStanding,
} from '../src/trust/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'flock-trust-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const factories: [string, () => TrustStore][] = [
  ['memory', () => new MemoryTrustStore()],
  ['sqlite', () => new SqliteTrustStore(new Database(join(dir, `store-${++files}.db`)))],
];

const standing: WorkerStanding = {
  workerId: 'w1',
  firstSeenMs: 5,
  vetted: true,
  quarantined: false,
  quarantinedAtMs: undefined,
  checksPassed: 2,
  checksFailed: 0,
  validResults: 7,
  invalidResults: 1,
  credit: 12.5,
  pendingCredit: 0.25,
  suspect: true,
  checkInFlight: 'check-1',
};

const task: TaskVerification = {
  taskId: 't1',
  moduleHash: 'sha256:ab',
  policy: resolvePolicy({ replicas: 2, comparator: 'tolerance' }),
  target: 2,
  adapterLock: 'gpu/x/y',
  needsVetted: false,
  noAlone: false,
  replicas: [
    {
      workerId: 'w1',
      adapterClass: 'gpu/x/y',
      status: 'returned',
      alone: false,
      group: 0,
      claimedMs: 30,
      verdict: undefined,
    },
  ],
  groups: [
    {
      digest: {
        hash: 'sha256:00',
        outputs: { out: 'sha256:11' },
        bytes: { out: Uint8Array.of(0, 0, 128, 63) },
      },
      members: ['w1'],
    },
  ],
  state: 'pending',
  acceptedBy: undefined,
  canonicalGroup: undefined,
  canonicalWorker: undefined,
  openedAtMs: 9,
  decidedAtMs: undefined,
};

for (const [name, make] of factories) {
  describe(`TrustStore contract: ${name}`, () => {
    it('round-trips reputations, per key', async () => {
      const s = make();
      expect(await s.getReputation('w1', 'm', 'c')).toBeUndefined();
      const rep = {
        workerId: 'w1',
        moduleHash: 'm',
        adapterClass: 'c',
        consecutiveValid: 3,
        valid: 4,
        invalid: 1,
        acceptedAlone: 2,
        updatedAtMs: 77,
      };
      await s.putReputation(rep);
      await s.putReputation({ ...rep, adapterClass: 'd', consecutiveValid: 9 });
      await s.putReputation({ ...rep, workerId: 'w2' });
      expect(await s.getReputation('w1', 'm', 'c')).toEqual(rep);
      await s.putReputation({ ...rep, consecutiveValid: 0 });
      expect((await s.getReputation('w1', 'm', 'c'))!.consecutiveValid).toBe(0);
      expect((await s.listReputations('w1')).map((r) => [r.adapterClass, r.consecutiveValid])).toEqual([
        ['c', 0],
        ['d', 9],
      ]);
    });

    it('round-trips standings, including unset fields', async () => {
      const s = make();
      await s.putStanding(standing);
      await s.putStanding({ ...standing, workerId: 'w0', checkInFlight: undefined, suspect: false });
      expect(await s.getStanding('w1')).toEqual(standing);
      expect((await s.listStandings()).map((x) => [x.workerId, x.checkInFlight])).toEqual([
        ['w0', undefined],
        ['w1', 'check-1'],
      ]);
      expect(await s.getStanding('nobody')).toBeUndefined();
    });

    it('keeps the newest MAX_UNCONFIRMED vouched-for tasks per worker, in order', async () => {
      const s = make();
      for (let i = 0; i < MAX_UNCONFIRMED + 5; i++)
        await s.addUnconfirmed('w1', { taskId: `t${i}`, credit: i / 2 });
      await s.addUnconfirmed('w2', { taskId: 'x', credit: 0 });
      const list = await s.listUnconfirmed('w1');
      expect(list.length).toBe(MAX_UNCONFIRMED);
      expect(list[0]).toEqual({ taskId: 't5', credit: 2.5 });
      expect(list.at(-1)).toEqual({ taskId: `t${MAX_UNCONFIRMED + 4}`, credit: (MAX_UNCONFIRMED + 4) / 2 });
      await s.clearUnconfirmed('w1');
      expect(await s.listUnconfirmed('w1')).toEqual([]);
      expect(await s.listUnconfirmed('w2')).toEqual([{ taskId: 'x', credit: 0 }]);
    });

    it('round-trips task verifications with their bytes, and deletes them', async () => {
      const s = make();
      await s.putTask(task);
      const back = (await s.getTask('t1'))!;
      expect(back).toEqual(task);
      expect(back.groups[0]!.digest.bytes!['out']).toEqual(Uint8Array.of(0, 0, 128, 63));
      await s.deleteTask('t1');
      expect(await s.getTask('t1')).toBeUndefined();
    });

    it('round-trips spot checks', async () => {
      const s = make();
      const check = {
        checkId: 'c1',
        workerId: 'w1',
        adapterClass: 'cpu/wasm',
        issuedAtMs: 3,
        answer: {
          envelope: { task_id: 'c1', op: 'saxpy' },
          moduleHash: 'builtin:saxpy',
          op: 'saxpy',
          inputs: { x: Uint8Array.of(1) },
          expected: { out: Uint8Array.of(2) },
        },
      };
      await s.putCheck(check);
      expect(await s.getCheck('c1')).toEqual(check);
      await s.deleteCheck('c1');
      expect(await s.getCheck('c1')).toBeUndefined();
    });
  });
}

describe('trust state in a SQLite file survives a restart', () => {
  it('completes a quorum across two engine instances', async () => {
    const file = join(dir, 'restart.db');
    const out = (b: number) => [{ name: 'out', bytes: Uint8Array.of(b) }];
    let db = new Database(file);
    let engine = new TrustEngine({ store: new SqliteTrustStore(db), requireVetted: false });
    await engine.open('t1', { verification: { replicas: 2 }, moduleHash: 'm' });
    await engine.assign('t1', { workerId: 'a', adapterClass: 'cpu/wasm' });
    await engine.assign('t1', { workerId: 'b', adapterClass: 'cpu/wasm' });
    expect(await engine.submit('t1', 'a', out(1), { claimedMs: 1000 })).toEqual({
      kind: 'pending',
      wanted: 0,
    });
    db.close();

    db = new Database(file);
    engine = new TrustEngine({ store: new SqliteTrustStore(db), requireVetted: false });
    expect(await engine.status('t1')).toMatchObject({ state: 'pending', returned: 1, running: 1 });
    expect(await engine.submit('t1', 'b', out(1), { claimedMs: 1000 })).toMatchObject({
      kind: 'accepted',
      valid: ['a', 'b'],
    });
    expect((await engine.standing('a')).credit).toBe(1);
    db.close();
  });
});
