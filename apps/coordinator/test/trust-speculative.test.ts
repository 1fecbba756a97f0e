// A speculative replica (batch tails, #17): the trust engine grants one replica more beside a
// straggling one, to another worker, and it counts toward the quorum like any replica.
import { describe, expect, it } from 'vitest';
import { MemoryTrustStore, type ReplicaOutput, TrustEngine, type WorkerRef } from '../src/trust/index.ts';

const CPU = 'cpu/wasm-simd';
const MODULE = 'sha256:feed';
const w = (workerId: string): WorkerRef => ({ workerId, adapterClass: CPU });
const out = (...bytes: number[]): ReplicaOutput[] => [{ name: 'out', bytes: Uint8Array.from(bytes) }];

function engine(): TrustEngine {
  let clock = 1_000;
  return new TrustEngine({ store: new MemoryTrustStore(), requireVetted: false, now: () => clock++ });
}

describe('speculative replicas', () => {
  it('a 2-of-2 task with one replica stuck gets a third on another worker, which completes the quorum', async () => {
    const e = engine();
    await e.open('t1', { verification: { replicas: 2 }, moduleHash: MODULE });
    await e.assign('t1', w('a'));
    await e.assign('t1', w('slow'));
    expect(await e.submit('t1', 'a', out(5), { claimedMs: 1000 })).toEqual({ kind: 'pending', wanted: 0 });
    expect(await e.speculate('t1')).toBe(true);
    expect(await e.status('t1')).toMatchObject({
      wanted: 1,
      running: 1,
      returned: 1,
      workers: ['a', 'slow'],
    });
    // Neither worker that holds a replica may run the copy; a third may.
    expect(await e.eligible('t1', w('a'))).toBe(false);
    expect(await e.eligible('t1', w('slow'))).toBe(false);
    expect(await e.eligible('t1', w('c'))).toBe(true);
    // Granted once: the copy is wanted already.
    expect(await e.speculate('t1')).toBe(false);
    expect(await e.assign('t1', w('c'))).toEqual({ alone: false, wanted: 0 });
    expect(await e.submit('t1', 'c', out(5), { claimedMs: 3000 })).toMatchObject({
      kind: 'accepted',
      by: 'quorum',
      canonicalWorker: 'a',
      valid: ['a', 'c'],
      invalid: [],
      surplus: ['slow'],
    });
    expect((await e.standing('a')).credit).toBe(1);
    expect((await e.standing('c')).credit).toBe(1);
    expect(await e.standing('slow')).toMatchObject({ credit: 0, validResults: 0, invalidResults: 0 });
    expect(await e.speculate('t1')).toBe(false); // decided
  });

  it('a copy that disagrees is judged invalid like any replica', async () => {
    const e = engine();
    await e.open('t1', { verification: { replicas: 2, max_replicas: 4 }, moduleHash: MODULE });
    await e.assign('t1', w('a'));
    await e.assign('t1', w('slow'));
    await e.submit('t1', 'a', out(5));
    expect(await e.speculate('t1')).toBe(true);
    await e.assign('t1', w('c'));
    expect(await e.submit('t1', 'c', out(6))).toEqual({ kind: 'pending', wanted: 0 });
    expect(await e.submit('t1', 'slow', out(5))).toMatchObject({
      kind: 'accepted',
      valid: ['a', 'slow'],
      invalid: ['c'],
    });
    expect((await e.standing('c')).invalidResults).toBe(1);
  });

  it('is refused at max_replicas, with nothing running, and when nothing straggles behind a wanted replica', async () => {
    const e = engine();
    await e.open('full', { verification: { replicas: 2, max_replicas: 2 }, moduleHash: MODULE });
    await e.assign('full', w('a'));
    await e.assign('full', w('b'));
    expect(await e.speculate('full')).toBe(false);
    expect((await e.status('full')).wanted).toBe(0);
    await e.open('idle', { verification: { replicas: 2 }, moduleHash: MODULE });
    expect(await e.speculate('idle')).toBe(false); // wants two, none running
    await e.assign('idle', w('a'));
    expect(await e.speculate('idle')).toBe(false); // still wants one
    expect((await e.status('idle')).wanted).toBe(1);
  });
});
