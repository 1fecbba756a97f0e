import type { VerificationPolicy } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import {
  type KnownAnswer,
  type KnownAnswerSource,
  MemoryTrustStore,
  type ReplicaOutput,
  TrustEngine,
  type TrustEngineOptions,
  TrustError,
  type WorkerRef,
} from '../src/trust/index.ts';

const CPU = 'cpu/wasm-simd';
const GPU = 'gpu/nvidia/ampere';
const MODULE = 'sha256:feed';

function w(workerId: string, adapterClass = CPU): WorkerRef {
  return { workerId, adapterClass };
}

function out(...bytes: number[]): ReplicaOutput[] {
  return [{ name: 'out', bytes: Uint8Array.from(bytes) }];
}

/** Known answers whose correct output is the single byte 42. */
class FixedAnswers implements KnownAnswerSource {
  issued = 0;
  async make(): Promise<KnownAnswer> {
    this.issued++;
    return {
      envelope: { task_id: `t-${1000 + this.issued}`, op: 'saxpy', module: { kind: 'builtin' } },
      moduleHash: 'builtin:saxpy',
      op: 'saxpy',
      inputs: {},
      expected: { out: Uint8Array.of(42) },
    };
  }
  check(_answer: KnownAnswer, outputs: readonly ReplicaOutput[]): boolean {
    return outputs.length === 1 && outputs[0]!.bytes?.length === 1 && outputs[0]!.bytes[0] === 42;
  }
}

interface Rig {
  engine: TrustEngine;
  store: MemoryTrustStore;
  answers: FixedAnswers;
  /** The next value `random()` returns. */
  setRandom(value: number): void;
}

function rig(options: Partial<TrustEngineOptions> = {}): Rig {
  const store = new MemoryTrustStore();
  const answers = new FixedAnswers();
  let next = 0.5;
  let clock = 1_000;
  const engine = new TrustEngine({
    store,
    knownAnswers: answers,
    random: () => next,
    now: () => clock++,
    ...options,
  });
  return { engine, store, answers, setRandom: (v) => (next = v) };
}

async function trustError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TrustError) return err.code;
    throw err;
  }
  throw new Error('expected a TrustError');
}

/** Passes a known-answer check: the worker becomes vetted. */
async function vet(r: Rig, worker: WorkerRef): Promise<void> {
  expect(await r.engine.shouldSpotCheck(worker)).toBe(true);
  const check = (await r.engine.issueSpotCheck(worker))!;
  expect(await r.engine.submitSpotCheck(check.checkId, worker.workerId, out(42))).toEqual({
    passed: true,
    reverify: [],
  });
}

/** Runs one task on two workers that agree, so both streaks grow by one. */
async function agree(
  r: Rig,
  taskId: string,
  a: WorkerRef,
  b: WorkerRef,
  policy?: VerificationPolicy,
): Promise<void> {
  await r.engine.open(taskId, { verification: policy ?? { replicas: 2 }, moduleHash: MODULE });
  await r.engine.assign(taskId, a);
  await r.engine.assign(taskId, b);
  await r.engine.submit(taskId, a.workerId, out(7));
  expect((await r.engine.submit(taskId, b.workerId, out(7))).kind).toBe('accepted');
}

describe('quorum', () => {
  it('accepts once two replicas agree, crediting both the smaller claimed time', async () => {
    const r = rig({ requireVetted: false });
    expect(await r.engine.open('t1', { verification: { replicas: 2 }, moduleHash: MODULE })).toMatchObject({
      state: 'pending',
      mode: 'fixed',
      quorum: 2,
      wanted: 2,
    });
    expect(await r.engine.assign('t1', w('a'))).toEqual({ alone: false, wanted: 1 });
    expect(await r.engine.assign('t1', w('b', GPU))).toEqual({ alone: false, wanted: 0 });
    expect(await r.engine.submit('t1', 'a', out(1, 2, 3), { claimedMs: 2000 })).toEqual({
      kind: 'pending',
      wanted: 0,
    });
    const verdict = await r.engine.submit('t1', 'b', out(1, 2, 3), { claimedMs: 3000 });
    expect(verdict).toMatchObject({
      kind: 'accepted',
      by: 'quorum',
      canonicalWorker: 'a',
      valid: ['a', 'b'],
      invalid: [],
    });
    expect(await r.engine.status('t1')).toMatchObject({
      state: 'accepted',
      returned: 2,
      agreeing: 2,
      acceptedBy: 'quorum',
    });
    // 2 s on a CPU (weight 1) and 2 s on a hardware GPU (weight 4).
    expect((await r.engine.standing('a')).credit).toBe(2);
    expect((await r.engine.standing('b')).credit).toBe(8);
    expect((await r.store.getReputation('a', MODULE, CPU))!.consecutiveValid).toBe(1);
  });

  it('adds a replica on disagreement and marks the odd one out invalid', async () => {
    const r = rig({ requireVetted: false });
    await agree(r, 't0', w('a'), w('b'));
    expect((await r.store.getReputation('b', MODULE, CPU))!.consecutiveValid).toBe(1);
    await r.engine.open('t1', { verification: { replicas: 2, max_replicas: 3 }, moduleHash: MODULE });
    await r.engine.assign('t1', w('a'));
    await r.engine.assign('t1', w('b'));
    await r.engine.submit('t1', 'a', out(5));
    expect(await r.engine.submit('t1', 'b', out(6), { claimedMs: 1000 })).toEqual({
      kind: 'pending',
      wanted: 1,
    });
    expect(await r.engine.eligible('t1', w('a'))).toBe(false);
    expect(await r.engine.eligible('t1', w('c'))).toBe(true);
    await r.engine.assign('t1', w('c'));
    expect(await r.engine.submit('t1', 'c', out(5))).toMatchObject({
      kind: 'accepted',
      canonicalWorker: 'a',
      valid: ['a', 'c'],
      invalid: ['b'],
    });
    expect((await r.store.getReputation('b', MODULE, CPU))!).toMatchObject({
      consecutiveValid: 0,
      valid: 1,
      invalid: 1,
    });
    expect((await r.engine.standing('b')).credit).toBe(0);
  });

  it('fails VERIFICATION_FAILED when max_replicas results never reach the quorum', async () => {
    const r = rig({ requireVetted: false });
    await r.engine.open('t1', { verification: { replicas: 2, max_replicas: 3 }, moduleHash: MODULE });
    await r.engine.assign('t1', w('a'));
    await r.engine.assign('t1', w('b'));
    await r.engine.submit('t1', 'a', out(1));
    await r.engine.submit('t1', 'b', out(2));
    await r.engine.assign('t1', w('c'));
    const verdict = await r.engine.submit('t1', 'c', out(3));
    expect(verdict).toMatchObject({ kind: 'failed', code: 'VERIFICATION_FAILED', surplus: [] });
    expect(await r.engine.status('t1')).toMatchObject({ state: 'failed', wanted: 0, agreeing: 1 });
    expect(await r.engine.eligible('t1', w('d'))).toBe(false);
  });

  it('with quorum 2 of 3 accepts before the third returns, which is judged late', async () => {
    const r = rig({ requireVetted: false });
    await r.engine.open('t1', { verification: { replicas: 3 }, moduleHash: MODULE });
    for (const id of ['a', 'b', 'c']) await r.engine.assign('t1', w(id));
    await r.engine.submit('t1', 'a', out(4), { claimedMs: 2000 });
    expect(await r.engine.submit('t1', 'b', out(4), { claimedMs: 3000 })).toMatchObject({
      kind: 'accepted',
      surplus: ['c'],
    });
    // A late claim above the quorum's is cut to the quorum's smallest.
    expect(await r.engine.submit('t1', 'c', out(4), { claimedMs: 9000 })).toEqual({
      kind: 'late',
      verdict: 'valid',
    });
    expect((await r.engine.standing('c')).credit).toBe(2);
  });

  it('serialises results that arrive together: one decision', async () => {
    const r = rig({ requireVetted: false });
    await r.engine.open('t1', { verification: { replicas: 3 }, moduleHash: MODULE });
    for (const id of ['a', 'b', 'c']) await r.engine.assign('t1', w(id));
    const verdicts = await Promise.all(['a', 'b', 'c'].map((id) => r.engine.submit('t1', id, out(9))));
    expect(verdicts.map((v) => v.kind)).toEqual(['pending', 'accepted', 'late']);
  });

  it('keeps homogeneous replicas on the first adapter class', async () => {
    const r = rig({ requireVetted: false });
    await r.engine.open('t1', { verification: { replicas: 2, homogeneous: true }, moduleHash: MODULE });
    await r.engine.assign('t1', w('a', GPU));
    expect(await r.engine.eligible('t1', w('b', CPU))).toBe(false);
    expect(await r.engine.eligible('t1', w('b', GPU))).toBe(true);
    expect(await trustError(r.engine.assign('t1', w('b', CPU)))).toBe('NOT_ELIGIBLE');
  });

  it('asks for a replacement when a lease is released', async () => {
    const r = rig({ requireVetted: false });
    await r.engine.open('t1', { verification: { replicas: 2 }, moduleHash: MODULE });
    await r.engine.assign('t1', w('a'));
    await r.engine.assign('t1', w('b'));
    expect(await r.engine.release('t1', 'b')).toEqual({ wanted: 1 });
    // A worker whose lease expired may be given the task again.
    expect(await r.engine.eligible('t1', w('b'))).toBe(true);
    expect(await trustError(r.engine.release('t1', 'b'))).toBe('NOT_ASSIGNED');
  });

  it('refuses misuse with stable codes', async () => {
    const r = rig();
    expect(await trustError(r.engine.status('nope'))).toBe('UNKNOWN_TASK');
    expect(
      await trustError(r.engine.open('t1', { verification: { replicas: 1, quorum: 2 }, moduleHash: MODULE })),
    ).toBe('INVALID_POLICY');
    await r.engine.open('t1', { verification: { replicas: 2 }, moduleHash: MODULE });
    expect(await trustError(r.engine.submit('t1', 'a', out(1)))).toBe('NOT_ASSIGNED');
    await r.engine.assign('t1', w('a'));
    expect(await trustError(r.engine.assign('t1', w('a')))).toBe('NOT_ELIGIBLE');
    expect(await trustError(r.engine.submitSpotCheck('x', 'a', out(42)))).toBe('UNKNOWN_CHECK');
  });

  it('accepts a quorum-1 result alone without growing the streak', async () => {
    const r = rig();
    await r.engine.open('t1', { verification: { replicas: 1 }, moduleHash: MODULE });
    await r.engine.assign('t1', w('a'));
    expect(await r.engine.submit('t1', 'a', out(3), { claimedMs: 1000 })).toMatchObject({
      kind: 'accepted',
      by: 'single',
    });
    expect(await r.engine.standing('a')).toMatchObject({ credit: 0, pendingCredit: 1 });
    expect(await r.store.getReputation('a', MODULE, CPU)).toMatchObject({
      consecutiveValid: 0,
      acceptedAlone: 1,
    });
  });
});

describe('vetting: fresh identities cannot outvote', () => {
  it('needs a vetted worker in the quorum and refuses unvetted ones for that replica', async () => {
    const r = rig();
    await r.engine.open('t1', { verification: { replicas: 2 }, moduleHash: MODULE });
    await r.engine.assign('t1', w('sybil1'));
    await r.engine.assign('t1', w('sybil2'));
    await r.engine.submit('t1', 'sybil1', out(6));
    expect(await r.engine.submit('t1', 'sybil2', out(6))).toEqual({ kind: 'pending', wanted: 1 });
    expect(await r.engine.eligible('t1', w('sybil3'))).toBe(false);
    await vet(r, w('v'));
    expect(await r.engine.eligible('t1', w('v'))).toBe(true);
    await r.engine.assign('t1', w('v'));
    expect(await r.engine.submit('t1', 'v', out(7))).toEqual({ kind: 'pending', wanted: 1 });
    await vet(r, w('v2'));
    await r.engine.assign('t1', w('v2'));
    expect(await r.engine.submit('t1', 'v2', out(7))).toMatchObject({
      kind: 'accepted',
      valid: ['v', 'v2'],
      invalid: ['sybil1', 'sybil2'],
    });
  });
});

describe('adaptive replication', () => {
  /** Two vetted workers with `n` agreeing results each on MODULE. */
  async function streak(r: Rig, n: number): Promise<void> {
    await vet(r, w('a'));
    await vet(r, w('b'));
    for (let i = 0; i < n; i++) await agree(r, `s${i}`, w('a'), w('b'), {});
  }

  it('replicates a new worker’s tasks to a quorum of 2', async () => {
    const r = rig();
    await r.engine.open('t1', { moduleHash: MODULE });
    r.setRandom(0);
    expect(await r.engine.assign('t1', w('new'))).toEqual({ alone: false, wanted: 1 });
    expect(await r.engine.status('t1')).toMatchObject({ mode: 'adaptive', dispatched: 1, wanted: 1 });
  });

  it('after 9 consecutive valid results still replicates', async () => {
    const r = rig();
    await streak(r, 9);
    await r.engine.open('t1', { moduleHash: MODULE });
    r.setRandom(0);
    expect(await r.engine.assign('t1', w('a'))).toEqual({ alone: false, wanted: 1 });
  });

  it('after 10 believes a worker alone with probability 1 − 1/n (draw < 0.9)', async () => {
    const r = rig();
    await streak(r, 10);
    expect((await r.engine.standing('a')).trusted).toEqual([
      { moduleHash: MODULE, adapterClass: CPU, consecutiveValid: 10 },
    ]);
    await r.engine.open('t1', { moduleHash: MODULE });
    r.setRandom(0.9);
    expect(await r.engine.assign('t1', w('a'))).toEqual({ alone: false, wanted: 1 });
    await r.engine.open('t2', { moduleHash: MODULE });
    r.setRandom(0.8999);
    expect(await r.engine.assign('t2', w('a'))).toEqual({ alone: true, wanted: 0 });
    expect(await r.engine.submit('t2', 'a', out(1), { claimedMs: 4000 })).toMatchObject({
      kind: 'accepted',
      by: 'trusted',
      canonicalWorker: 'a',
    });
    // A lone result is not validated: the streak stays, credit stays pending.
    expect((await r.store.getReputation('a', MODULE, CPU))!).toMatchObject({
      consecutiveValid: 10,
      acceptedAlone: 1,
    });
    expect(await r.engine.standing('a')).toMatchObject({ pendingCredit: 4 });
    // Trust is per module and per adapter class.
    await r.engine.open('t3', { moduleHash: 'sha256:other' });
    r.setRandom(0);
    expect(await r.engine.assign('t3', w('a'))).toEqual({ alone: false, wanted: 1 });
    await r.engine.open('t4', { moduleHash: MODULE });
    expect(await r.engine.assign('t4', w('a', GPU))).toEqual({ alone: false, wanted: 1 });
  });

  it('an invalid result resets the streak to 0', async () => {
    const r = rig();
    await streak(r, 10);
    await vet(r, w('c'));
    await r.engine.open('t1', { moduleHash: MODULE });
    r.setRandom(0.95);
    await r.engine.assign('t1', w('a'));
    await r.engine.assign('t1', w('b'));
    await r.engine.submit('t1', 'a', out(1));
    await r.engine.submit('t1', 'b', out(2));
    await r.engine.assign('t1', w('c'));
    expect(await r.engine.submit('t1', 'c', out(2))).toMatchObject({ invalid: ['a'] });
    expect((await r.store.getReputation('a', MODULE, CPU))!.consecutiveValid).toBe(0);
    await r.engine.open('t2', { moduleHash: MODULE });
    r.setRandom(0);
    expect(await r.engine.assign('t2', w('a'))).toEqual({ alone: false, wanted: 1 });
  });

  it('decides afresh when a lone replica’s lease is lost', async () => {
    const r = rig();
    await streak(r, 10);
    await r.engine.open('t1', { moduleHash: MODULE });
    r.setRandom(0);
    expect(await r.engine.assign('t1', w('a'))).toEqual({ alone: true, wanted: 0 });
    expect(await r.engine.release('t1', 'a')).toEqual({ wanted: 1 });
    expect(await r.engine.assign('t1', w('new'))).toEqual({ alone: false, wanted: 1 });
  });
});

describe('spot checks', () => {
  it('puts every new worker on probation, then checks at the configured rate', async () => {
    const r = rig({ spotCheckRate: 0.05 });
    const a = w('a');
    expect(await r.engine.shouldSpotCheck(a)).toBe(true);
    const check = (await r.engine.issueSpotCheck(a))!;
    expect(check.envelope).toMatchObject({ task_id: 't-1001', op: 'saxpy' });
    // One check at a time.
    expect(await r.engine.shouldSpotCheck(a)).toBe(false);
    expect(await trustError(r.engine.submitSpotCheck(check.checkId, 'b', out(42)))).toBe('NOT_ASSIGNED');
    expect(await r.engine.submitSpotCheck(check.checkId, 'a', out(42), { claimedMs: 3000 })).toEqual({
      passed: true,
      reverify: [],
    });
    expect(await r.engine.standing('a')).toMatchObject({ vetted: true, checksPassed: 1, credit: 3 });
    r.setRandom(0.0499);
    expect(await r.engine.shouldSpotCheck(a)).toBe(true);
    r.setRandom(0.05);
    expect(await r.engine.shouldSpotCheck(a)).toBe(false);
    expect(await rig({ knownAnswers: undefined }).engine.shouldSpotCheck(a)).toBe(false);
  });

  it('lets a released check be reissued', async () => {
    const r = rig();
    const check = (await r.engine.issueSpotCheck(w('a')))!;
    await r.engine.releaseSpotCheck(check.checkId);
    expect(await r.engine.shouldSpotCheck(w('a'))).toBe(true);
    expect(await trustError(r.engine.releaseSpotCheck(check.checkId))).toBe('UNKNOWN_CHECK');
  });

  it('quarantines a worker that fails one, forfeits its pending credit and reopens what it vouched for', async () => {
    const r = rig();
    await vet(r, w('a'));
    await vet(r, w('b'));
    for (let i = 0; i < 10; i++) await agree(r, `s${i}`, w('a'), w('b'), {});
    const creditBefore = (await r.engine.standing('a')).credit;
    r.setRandom(0);
    for (const id of ['t1', 't2']) {
      await r.engine.open(id, { moduleHash: MODULE });
      expect(await r.engine.assign(id, w('a'))).toEqual({ alone: true, wanted: 0 });
      await r.engine.submit(id, 'a', out(66), { claimedMs: 1000 });
    }
    // A task in flight with a replica on a.
    await r.engine.open('t3', { verification: { replicas: 2 }, moduleHash: MODULE });
    await r.engine.assign('t3', w('a'));
    await r.engine.assign('t3', w('b'));
    expect(await r.engine.standing('a')).toMatchObject({ pendingCredit: 2 });

    const check = (await r.engine.issueSpotCheck(w('a')))!;
    const sTasks = Array.from({ length: 10 }, (_, i) => `s${i}`);
    expect(await r.engine.submitSpotCheck(check.checkId, 'a', out(41))).toEqual({
      passed: false,
      reverify: [...sTasks, 't1', 't2'],
    });
    expect(await r.engine.standing('a')).toMatchObject({
      quarantined: true,
      vetted: false,
      checksFailed: 1,
      credit: creditBefore,
      pendingCredit: 0,
      trusted: [],
    });
    expect((await r.store.getReputation('a', MODULE, CPU))!.consecutiveValid).toBe(0);
    expect(await r.engine.shouldSpotCheck(w('a'))).toBe(false);

    // Its in-flight result counts for nothing; the task wants a replacement.
    expect(await r.engine.submit('t3', 'a', out(7))).toEqual({ kind: 'discarded', wanted: 1 });
    expect(await r.engine.eligible('t3', w('a'))).toBe(false);

    // What it vouched for alone is redone by a full quorum of others.
    expect(await r.engine.reverify('t1')).toMatchObject({
      state: 'pending',
      wanted: 2,
      acceptedBy: undefined,
    });
    expect(await r.engine.eligible('t1', w('a'))).toBe(false);
    r.setRandom(0);
    expect(await r.engine.assign('t1', w('b'))).toEqual({ alone: false, wanted: 1 });
    // A quorum it was part of now rests on b alone: one more agreeing result is needed...
    expect(await r.engine.reverify('s0')).toMatchObject({
      state: 'pending',
      returned: 1,
      agreeing: 1,
      wanted: 1,
    });
    await vet(r, w('c'));
    await r.engine.assign('s0', w('c'));
    expect(await r.engine.submit('s0', 'c', out(7))).toMatchObject({ kind: 'accepted', valid: ['b', 'c'] });
    // ...and reverifying again changes nothing: the group holds without a.
    expect(await r.engine.reverify('s0')).toMatchObject({ state: 'accepted', agreeing: 2 });
    // Verdicts given at the first acceptance stand (b is not counted twice); c earns its own.
    expect((await r.store.getReputation('b', MODULE, CPU))!.consecutiveValid).toBe(10);
    expect((await r.store.getReputation('c', MODULE, CPU))!.consecutiveValid).toBe(1);
  });

  it('spot-checks a worker whose result disagreed at its next dispatch', async () => {
    const r = rig({ spotCheckRate: 0 });
    for (const id of ['a', 'b', 'c']) await vet(r, w(id));
    r.setRandom(0.5);
    expect(await r.engine.shouldSpotCheck(w('c'))).toBe(false);
    await r.engine.open('t1', { verification: { replicas: 3 }, moduleHash: MODULE });
    for (const id of ['a', 'b', 'c']) await r.engine.assign('t1', w(id));
    await r.engine.submit('t1', 'a', out(1));
    await r.engine.submit('t1', 'b', out(1));
    expect(await r.engine.submit('t1', 'c', out(2))).toEqual({ kind: 'late', verdict: 'invalid' });
    expect(await r.engine.shouldSpotCheck(w('c'))).toBe(true);
    expect(await r.engine.shouldSpotCheck(w('a'))).toBe(false);
    const check = (await r.engine.issueSpotCheck(w('c')))!;
    await r.engine.submitSpotCheck(check.checkId, 'c', out(42));
    expect(await r.engine.shouldSpotCheck(w('c'))).toBe(false);
  });
});
