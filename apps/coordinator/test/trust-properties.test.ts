import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryTrustStore, TrustEngine } from '../src/trust/index.ts';

// Seeded random runs of one task through the engine: workers (some liars, each with its own
// wrong answer) are leased replicas while the engine wants them; results arrive in any order.
describe('trust engine properties', () => {
  it('ends accepted or failed within max_replicas, and a quorum of 2+ never accepts a lone liar', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }).chain((replicas) =>
          fc.record({
            replicas: fc.constant(replicas),
            quorum: fc.integer({ min: 1, max: replicas }),
            extra: fc.integer({ min: 0, max: 3 }),
            liars: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
            order: fc.array(fc.nat(), { minLength: 16, maxLength: 16 }),
          }),
        ),
        async ({ replicas, quorum, extra, liars, order }) => {
          const engine = new TrustEngine({
            store: new MemoryTrustStore(),
            requireVetted: false,
            random: () => 0.5,
          });
          const max = replicas + extra;
          await engine.open('t', { verification: { replicas, quorum, max_replicas: max }, moduleHash: 'm' });
          const running: number[] = [];
          let next = 0;
          let step = 0;
          let verdictKind = 'pending';
          let canonical = -1;
          while (verdictKind === 'pending' || verdictKind === 'discarded') {
            let status = await engine.status('t');
            while (status.wanted > 0 && next < liars.length) {
              const w = { workerId: `w${next}`, adapterClass: 'cpu/wasm' };
              expect(await engine.eligible('t', w)).toBe(true);
              await engine.assign('t', w);
              running.push(next++);
              status = await engine.status('t');
            }
            if (running.length === 0) break; // out of workers
            const pick = running.splice(order[step++ % order.length]! % running.length, 1)[0]!;
            const answer = liars[pick] ? 100 + pick : 1;
            const v = await engine.submit('t', `w${pick}`, [{ name: 'o', bytes: Uint8Array.of(answer) }]);
            verdictKind = v.kind;
            if (v.kind === 'accepted') canonical = Number(v.canonicalWorker.slice(1));
          }
          const status = await engine.status('t');
          expect(status.dispatched).toBeLessThanOrEqual(max);
          if (next < liars.length) expect(['accepted', 'failed']).toContain(status.state);
          if (status.state === 'accepted' && quorum >= 2) expect(liars[canonical]).toBe(false);
          if (status.state === 'failed')
            expect(status.dispatched + Math.max(1, quorum - status.agreeing)).toBeGreaterThan(max);
        },
      ),
      { seed: 9, numRuns: 300 },
    );
  });
});
