import { describe, expect, it } from 'vitest';
import { type SimConfig, simulate } from '../../../bench/trust/trust-sim.ts';

// The policy end to end over simulated volunteers, some of which lie: the real TrustEngine,
// a discrete-event scheduler, deterministic under the seed. The full-size run is the benchmark.
const base: SimConfig = {
  name: 'flock',
  seed: 42,
  tasks: 1000,
  workers: 20,
  random: 2,
  colluders: 2,
  sleepers: 0,
  sleeperJobs: 20,
  policy: {},
  spotCheckRate: 0.02,
  spotChecks: true,
  requireVetted: true,
  rejoinAfter: 5,
};

describe('trust policy over simulated volunteers that lie', () => {
  it('without verification accepts the liars’ results', async () => {
    const r = await simulate({ ...base, policy: { replicas: 1 }, spotChecks: false, requireVetted: false });
    expect(r.executions).toBe(1000);
    expect(r.wrongAccepted).toBe(r.wrongFinal);
    expect(r.wrongAccepted).toBeGreaterThan(100); // 4 of 20 workers lie on every task they get
  });

  it('with fixed double replication accepts what two colluders agree on, at twice the cost', async () => {
    const r = await simulate({ ...base, policy: { replicas: 2 }, spotChecks: false, requireVetted: false });
    expect(r.overhead).toBeGreaterThan(2);
    expect(r.wrongAccepted).toBeGreaterThan(0);
  });

  it('with adaptive replication and spot checks accepts no wrong result, at a small overhead', async () => {
    const r = await simulate(base);
    expect(r).toMatchObject({
      wrongAccepted: 0,
      wrongFinal: 0,
      failed: 0,
      undecided: 0,
      honestQuarantined: 0,
    });
    // Every lying machine's first identity is caught by its probation check.
    expect(r.detectedBy).toBeDefined();
    expect(r.quarantined).toBeGreaterThanOrEqual(4);
    expect(r.acceptedAlone).toBeGreaterThan(500);
    expect(r.overhead).toBeLessThan(1.5);
  });

  it('re-verifies what sleepers vouched for once they are caught', async () => {
    const r = await simulate({ ...base, random: 0, colluders: 0, sleepers: 4, rejoinAfter: undefined });
    expect(r.undecided).toBe(0);
    expect(r.honestQuarantined).toBe(0);
    expect(r.quarantined).toBe(4);
    expect(r.reverified).toBeGreaterThan(0);
    expect(r.wrongFinal).toBe(0);
  });
});
