// A deterministic discrete-event simulation of the trust policy: simulated volunteers (some of
// them lying) pull tasks from a simulated coordinator that drives the real TrustEngine.
import {
  type KnownAnswer,
  type KnownAnswerSource,
  MemoryTrustStore,
  type ReplicaOutput,
  TrustEngine,
  type VerificationStatus,
} from '../../apps/coordinator/src/trust/index.ts';
import type { VerificationPolicy } from '../../packages/protocol/src/index.ts';

/** How a simulated volunteer answers. */
export type Behaviour =
  /** Always right. */
  | 'honest'
  /** Always a fresh random wrong answer (broken hardware, a lazy cheater). */
  | 'random'
  /** Always the same wrong answer as every other colluder (a coordinated cheater). */
  | 'colluder'
  /** Honest for its first `sleeperJobs` jobs, then a colluder: earns trust, then spends it. */
  | 'sleeper';

export interface SimConfig {
  name: string;
  seed: number;
  tasks: number;
  workers: number;
  random: number;
  colluders: number;
  sleepers: number;
  /** Jobs a sleeper does honestly before it starts lying. */
  sleeperJobs: number;
  /** The task's verification policy (the same for all tasks). */
  policy: VerificationPolicy;
  spotCheckRate: number;
  /** Known-answer checks at all (the no-verification and fixed baselines run without). */
  spotChecks: boolean;
  requireVetted: boolean;
  /** A quarantined identity comes back as a new one after this many time units (sybil). */
  rejoinAfter: number | undefined;
}

export interface SimResult {
  name: string;
  tasks: number;
  /** Replica and check executions, whatever became of them. */
  executions: number;
  spotChecks: number;
  /** executions / tasks: the cost against running each task once. */
  overhead: number;
  /** Tasks whose result was wrong when first accepted. */
  wrongAccepted: number;
  /** Tasks whose result is wrong at the end (after re-verification of what caught liars vouched for). */
  wrongFinal: number;
  failed: number;
  /** Tasks left neither accepted nor failed (must be 0). */
  undecided: number;
  acceptedAlone: number;
  reverified: number;
  /** Time units (mean job = 1) until the last task was decided. */
  makespan: number;
  /** Time until every lying machine's first identity was quarantined (undefined: some never were). */
  detectedBy: number | undefined;
  /** Start of the first window of 10 units after which every full window's overhead is ≤ 1.3. */
  convergedAt: number | undefined;
  quarantined: number;
  /** Honest identities quarantined (must be 0: a known answer never lies). */
  honestQuarantined: number;
  /** Overhead per window of 10 time units, to show the curve. */
  curve: number[];
}

/** mulberry32: small, seedable, good enough for a simulation. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MODULE = 'sha256:simulated-module';
const WINDOW = 10;

function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Known answers of the simulation: the correct answer of check n is "ka:n". */
class SimKnownAnswers implements KnownAnswerSource {
  private n = 0;
  async make(): Promise<KnownAnswer> {
    const id = `check-${++this.n}`;
    return {
      envelope: { task_id: id, op: 'sim', module: { kind: 'wasm', hash: MODULE } },
      moduleHash: MODULE,
      op: 'sim',
      inputs: {},
      expected: { out: bytesOf(`ka:${id}`) },
    };
  }
  check(answer: KnownAnswer, outputs: readonly ReplicaOutput[]): boolean {
    const got = outputs[0]?.bytes;
    const want = answer.expected['out']!;
    return outputs.length === 1 && got !== undefined && Buffer.from(got).equals(Buffer.from(want));
  }
}

interface Identity {
  id: string;
  behaviour: Behaviour;
  /** Index of the simulated machine behind the identity. */
  machine: number;
  jobsDone: number;
  liesFrom: number;
}

interface Job {
  kind: 'task' | 'check';
  /** The task id, or the check's visible task id (what the worker computes on). */
  key: string;
  /** A check's own id in the engine. */
  checkId?: string;
  identity: Identity;
  end: number;
  seq: number;
}

/** Runs one scenario to the end. */
export async function simulate(cfg: SimConfig): Promise<SimResult> {
  const draw = rng(cfg.seed);
  let clock = 0;
  const engine = new TrustEngine({
    store: new MemoryTrustStore(),
    knownAnswers: cfg.spotChecks ? new SimKnownAnswers() : undefined,
    random: rng(cfg.seed ^ 0x5eed),
    now: () => Math.round(clock * 1000),
    spotCheckRate: cfg.spotCheckRate,
    requireVetted: cfg.requireVetted,
  });
  let seq = 0;

  // Machines: the first ones lie, in a seeded shuffle of positions.
  const behaviours: Behaviour[] = [];
  for (let i = 0; i < cfg.random; i++) behaviours.push('random');
  for (let i = 0; i < cfg.colluders; i++) behaviours.push('colluder');
  for (let i = 0; i < cfg.sleepers; i++) behaviours.push('sleeper');
  while (behaviours.length < cfg.workers) behaviours.push('honest');
  for (let i = behaviours.length - 1; i > 0; i--) {
    const j = Math.floor(draw() * (i + 1));
    [behaviours[i], behaviours[j]] = [behaviours[j]!, behaviours[i]!];
  }
  const speed = behaviours.map(() => 0.75 + draw() * 0.5);
  let identities = 0;
  const newIdentity = (machine: number): Identity => ({
    id: `w${++identities}`,
    behaviour: behaviours[machine]!,
    machine,
    jobsDone: 0,
    liesFrom: behaviours[machine] === 'sleeper' ? cfg.sleeperJobs : 0,
  });
  const liars = new Set<string>(); // identities of the machines that lie, at the start
  const idle: Identity[] = [];
  for (let m = 0; m < cfg.workers; m++) {
    const id = newIdentity(m);
    if (id.behaviour !== 'honest') liars.add(id.id);
    idle.push(id);
  }
  const rejoins: { at: number; machine: number }[] = [];

  const running: Job[] = [];
  const pending: string[] = []; // tasks that want more replicas now, oldest first
  const wanted = new Map<string, number>();
  let nextTask = 0;
  let executions = 0;
  let spotChecks = 0;
  let failed = 0;
  let acceptedAlone = 0;
  let reverified = 0;
  let decided = 0;
  let detectedBy: number | undefined;
  let quarantinedLiars = 0;
  let quarantined = 0;
  let honestQuarantined = 0;
  const outputsByReplica = new Map<string, Uint8Array>();
  const canonical = new Map<string, Uint8Array>();
  const wrongEver = new Set<string>();
  const windowExec: number[] = [];
  const windowDone: number[] = [];
  const bump = (arr: number[], t: number) => {
    const w = Math.floor(t / WINDOW);
    while (arr.length <= w) arr.push(0);
    arr[w]!++;
  };

  const correct = (key: string) => bytesOf(key.startsWith('check-') ? `ka:${key}` : `ok:${key}`);
  const answer = (who: Identity, key: string): Uint8Array => {
    const lying = who.behaviour !== 'honest' && who.jobsDone >= who.liesFrom;
    if (!lying) return correct(key);
    if (who.behaviour === 'random') return bytesOf(`rnd:${key}:${draw()}`);
    return bytesOf(`bad:${key}`);
  };

  const refresh = (s: VerificationStatus) => {
    const before = wanted.get(s.taskId) ?? 0;
    wanted.set(s.taskId, s.wanted);
    if (s.wanted > 0 && before === 0) pending.push(s.taskId);
  };

  const start = (who: Identity, kind: Job['kind'], key: string, checkId?: string) => {
    executions++;
    bump(windowExec, clock);
    running.push({
      kind,
      key,
      ...(checkId !== undefined ? { checkId } : {}),
      identity: who,
      end: clock + speed[who.machine]! * (0.9 + draw() * 0.2),
      seq: seq++,
    });
  };

  const holders = new Map<string, Set<string>>(); // task → identities that hold or held a replica
  const runOn = async (who: Identity, taskId: string): Promise<boolean> => {
    if (holders.get(taskId)?.has(who.id)) return false;
    const ref = { workerId: who.id, adapterClass: 'cpu/wasm-simd' };
    if (!(await engine.eligible(taskId, ref))) return false;
    // A known-answer check takes the place of real work the worker could have had.
    if (await engine.shouldSpotCheck(ref)) {
      const check = (await engine.issueSpotCheck(ref))!;
      spotChecks++;
      start(who, 'check', check.envelope.task_id!, check.checkId);
      return true;
    }
    await engine.assign(taskId, ref);
    refresh(await engine.status(taskId));
    if (!holders.has(taskId)) holders.set(taskId, new Set());
    holders.get(taskId)!.add(who.id);
    start(who, 'task', taskId);
    return true;
  };

  /** Gives an idle identity work; false when there is none it may run. */
  const dispatch = async (who: Identity): Promise<boolean> => {
    for (let i = 0; i < pending.length; i++) {
      const taskId = pending[i]!;
      if ((wanted.get(taskId) ?? 0) === 0) {
        pending.splice(i--, 1);
        continue;
      }
      if (await runOn(who, taskId)) return true;
    }
    while (nextTask < cfg.tasks) {
      const taskId = `t${nextTask++}`;
      refresh(await engine.open(taskId, { verification: cfg.policy, moduleHash: MODULE }));
      if (await runOn(who, taskId)) return true;
    }
    return false;
  };

  const quarantine = async (who: Identity, reverify: string[]) => {
    quarantined++;
    if (who.behaviour === 'honest') honestQuarantined++;
    if (liars.has(who.id) && ++quarantinedLiars === liars.size) detectedBy = clock;
    for (const taskId of reverify) {
      const s = await engine.reverify(taskId);
      // Reopened (it was decided and is pending again), not merely still pending.
      if (s.state === 'pending' && canonical.has(taskId)) {
        reverified++;
        decided--;
        canonical.delete(taskId);
        refresh(s);
      }
    }
    if (cfg.rejoinAfter !== undefined) rejoins.push({ at: clock + cfg.rejoinAfter, machine: who.machine });
  };

  const fillIdle = async () => {
    for (let i = 0; i < idle.length; i++) {
      if (await dispatch(idle[i]!)) idle.splice(i--, 1);
    }
  };

  await fillIdle();
  while (running.length > 0 || rejoins.length > 0) {
    // The next event: the earliest job end, or a rejoin.
    running.sort((a, b) => a.end - b.end || a.seq - b.seq);
    rejoins.sort((a, b) => a.at - b.at);
    const job = running[0];
    const rejoin = rejoins[0];
    if (rejoin && (!job || rejoin.at <= job.end)) {
      rejoins.shift();
      clock = Math.max(clock, rejoin.at);
      if (decided >= cfg.tasks && nextTask >= cfg.tasks) continue;
      idle.push(newIdentity(rejoin.machine));
      await fillIdle();
      continue;
    }
    running.shift();
    clock = job!.end;
    const who = job!.identity;
    const bytes = answer(who, job!.key);
    who.jobsDone++;
    const outputs = [{ name: 'out', bytes }];
    let stillServing = true;
    if (job!.kind === 'check') {
      const v = await engine.submitSpotCheck(job!.checkId!, who.id, outputs, { claimedMs: 1000 });
      if (!v.passed) {
        stillServing = false;
        await quarantine(who, v.reverify);
      }
    } else {
      const taskId = job!.key;
      outputsByReplica.set(`${taskId}/${who.id}`, bytes);
      const v = await engine.submit(taskId, who.id, outputs, { claimedMs: 1000 });
      if (v.kind === 'accepted') {
        const out = outputsByReplica.get(`${taskId}/${v.canonicalWorker}`)!;
        canonical.set(taskId, out);
        if (!Buffer.from(out).equals(Buffer.from(correct(taskId)))) wrongEver.add(taskId);
        if (v.by === 'trusted') acceptedAlone++;
        decided++;
        bump(windowDone, clock);
      } else if (v.kind === 'failed') {
        failed++;
        decided++;
        bump(windowDone, clock);
      }
      refresh(await engine.status(taskId));
    }
    if (stillServing) idle.push(who);
    await fillIdle();
  }

  let wrongFinal = 0;
  for (const [taskId, out] of canonical)
    if (!Buffer.from(out).equals(Buffer.from(correct(taskId)))) wrongFinal++;
  const curve = windowExec.map((e, i) => e / Math.max(1, windowDone[i] ?? 0));
  const full = curve.slice(0, -1);
  let convergedAt: number | undefined;
  for (let i = full.length - 1; i >= 0 && full[i]! <= 1.3; i--) convergedAt = i * WINDOW;
  return {
    name: cfg.name,
    tasks: cfg.tasks,
    executions,
    spotChecks,
    overhead: executions / cfg.tasks,
    wrongAccepted: wrongEver.size,
    wrongFinal,
    failed,
    undecided: cfg.tasks - decided,
    acceptedAlone,
    reverified,
    makespan: clock,
    detectedBy,
    convergedAt,
    quarantined,
    honestQuarantined,
    curve,
  };
}
