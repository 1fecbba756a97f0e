// The trust simulation benchmark: `npm run bench:trust -w @flock/coordinator`.
// 10,000 tasks on 100 simulated volunteers, 5% returning random wrong results and 1% colluding on
// one wrong answer, under three policies in the same run: no verification (the baseline, 1×),
// fixed double replication, and Flock's (adaptive replication + known-answer spot checks).
// Then stress cases: a 5% collusion ring, and sleepers that earn trust before they lie.
// Options: --tasks N --workers N --seed N.
import { type SimConfig, type SimResult, simulate } from './trust-sim.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const tasks = arg('tasks', 10_000);
const workers = arg('workers', 100);
const seed = arg('seed', 9);
const pct = (p: number) => Math.round((workers * p) / 100);

const base: SimConfig = {
  name: '',
  seed,
  tasks,
  workers,
  random: pct(5),
  colluders: pct(1),
  sleepers: 0,
  sleeperJobs: 50,
  policy: {},
  spotCheckRate: 0.02,
  spotChecks: true,
  requireVetted: true,
  rejoinAfter: 5,
};
const none: Partial<SimConfig> = { policy: { replicas: 1 }, spotChecks: false, requireVetted: false };
const double: Partial<SimConfig> = {
  policy: { replicas: 2, max_replicas: 5 },
  spotChecks: false,
  requireVetted: false,
};

const scenarios: SimConfig[] = [
  { ...base, ...none, name: 'no verification (baseline)' },
  { ...base, ...double, name: 'fixed double replication' },
  { ...base, name: 'flock: adaptive + spot checks' },
  { ...base, ...double, colluders: pct(5), name: 'stress: 5% colluding, fixed double' },
  { ...base, colluders: pct(5), name: 'stress: 5% colluding, flock' },
  { ...base, colluders: 0, sleepers: pct(5), name: 'stress: 5% sleepers, flock' },
];

const t0 = performance.now();
const results: SimResult[] = [];
for (const s of scenarios) results.push(await simulate(s));
const wall = (performance.now() - t0) / 1000;

const baseline = results[0]!.executions;
const fmt = (v: number | undefined, d = 1) => (v === undefined ? 'never' : v.toFixed(d));
console.log(
  `trust simulation: ${tasks} tasks, ${workers} workers, ${pct(5)} random liars, ${pct(1)} colluder(s), seed ${seed}`,
);
console.log(
  [
    'scenario'.padEnd(36),
    'executions'.padStart(10),
    'vs none'.padStart(8),
    'checks'.padStart(7),
    'alone'.padStart(6),
    'wrong'.padStart(6),
    'final'.padStart(6),
    'failed'.padStart(7),
    'makespan'.padStart(9),
    'detected'.padStart(9),
    'converged'.padStart(10),
  ].join(' '),
);
for (const r of results) {
  console.log(
    [
      r.name.padEnd(36),
      String(r.executions).padStart(10),
      `${(r.executions / baseline).toFixed(3)}x`.padStart(8),
      String(r.spotChecks).padStart(7),
      String(r.acceptedAlone).padStart(6),
      String(r.wrongAccepted).padStart(6),
      String(r.wrongFinal).padStart(6),
      String(r.failed).padStart(7),
      fmt(r.makespan).padStart(9),
      fmt(r.detectedBy).padStart(9),
      fmt(r.convergedAt, 0).padStart(10),
    ].join(' '),
  );
  if (r.undecided !== 0 || r.honestQuarantined !== 0) {
    console.log(`  !! undecided ${r.undecided}, honest workers quarantined ${r.honestQuarantined}`);
  }
}
const flock = results[2]!;
console.log(
  `\nflock overhead curve (executions per decided task, windows of 10 time units): ${flock.curve.map((c) => c.toFixed(2)).join(' ')}`,
);
console.log(
  `targets: wrong accepted ${flock.wrongAccepted} (target 0), overhead ${(flock.executions / baseline).toFixed(3)}x (target ≤ 1.3x; fixed double ${(results[1]!.executions / baseline).toFixed(3)}x)`,
);
console.log(`wall time ${wall.toFixed(1)} s`);
