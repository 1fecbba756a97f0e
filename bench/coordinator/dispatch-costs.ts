// What the dispatch path costs per task, in one process and without sockets: queued tasks matched
// to free slots, their leases started in SQLite, and their assignment frames encoded as a volunteer
// session encodes them. Prints µs (CPU) and bytes allocated per task, medians of several rounds:
//
// - `engine`: a coordinator on a temp SQLite file, 200 volunteers × 2 slots as links that encode
//   every frame sent to them (batched like `batch_frames: 64`) and answer each assignment with a
//   result on the next turn: the whole loop after intake (the result path included);
// - `assign`: the assignment frame alone (makeFrame + encodeFrame, the bench's envelope);
// - `ack`: a result_ack frame (the other frame every task sends);
// - `schedule`: enqueue and assign to 400 slots, slots freed after each pass (the scheduler alone).
//
// Bytes are heapUsed after minus before with a young generation large enough that no scavenge
// runs within a round, so run it with the node flags below (it says so when they are missing):
//
//   node --expose-gc --max-semi-space-size=512 --min-semi-space-size=512 --import tsx \
//     bench/coordinator/dispatch-costs.ts [--tasks N] [--rounds R] [--only engine,assign,ack,schedule]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ComputeAssignment,
  type ComputeEnvelope,
  encodeFrame,
  encodeFrameView,
  type Frame_Payload,
  type FrameOptions,
  makeFrame,
  resolveLimits,
} from '@flock/protocol';
import { pino } from 'pino';
import { resolveConfig } from '../../apps/coordinator/src/config.ts';
import { EventsHub } from '../../apps/coordinator/src/edge/events-hub.ts';
import {
  Coordinator,
  type WorkerLink,
  type WorkerState,
} from '../../apps/coordinator/src/engine/coordinator.ts';
import { type SchedTask, Scheduler, type SchedWorker } from '../../apps/coordinator/src/engine/scheduler.ts';
import { metricsOf } from '../../apps/coordinator/src/start-coordinator.ts';
import { BlobStore } from '../../apps/coordinator/src/store/blob-store.ts';
import { SqliteStore } from '../../apps/coordinator/src/store/sqlite-store.ts';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const TASKS = Number(arg('--tasks', '4000'));
const ROUNDS = Number(arg('--rounds', '5'));
const ONLY = new Set(arg('--only', 'engine,assign,ack,schedule').split(','));
const VOLUNTEERS = 200;
const SLOTS = 2;
const LIMITS = resolveLimits({ maxFrameBytes: 1 << 20 });
const gc = (globalThis as { gc?: () => void }).gc;

/** The bench's task (bench/coordinator/run.ts) as the HTTP intake hands it to the engine. */
function envelope(i: number, campaign: string): ComputeEnvelope {
  const bytes = new Uint8Array(16);
  for (let k = 0; k < 16; k++) bytes[k] = (i + k) & 0xff;
  return {
    task_id: `b-${i}`,
    campaign_id: campaign,
    op: 'sum',
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', inline_bytes: bytes }],
  };
}

interface Sample {
  us: number;
  bytes: number;
}

/** CPU µs and heap bytes per unit of `run`. */
async function sample(units: number, run: () => Promise<void> | void): Promise<Sample> {
  gc?.();
  const heap = process.memoryUsage().heapUsed;
  const cpu = process.cpuUsage();
  await run();
  const used = process.cpuUsage(cpu);
  const bytes = process.memoryUsage().heapUsed - heap;
  return { us: (used.user + used.system) / units, bytes: bytes / units };
}

/**
 * A volunteer's link: frames encoded as a session encodes them for a volunteer that takes
 * batches (edge/worker-session.ts), laid end to end in one buffer a turn.
 */
class EncodingLink implements WorkerLink {
  worker: WorkerState | undefined;
  private message: Uint8Array = new Uint8Array(0);
  private used = 0;
  constructor(private readonly onAssignment: (link: EncodingLink, a: ComputeAssignment) => void) {}
  send(payload: Frame_Payload, frame?: FrameOptions): boolean {
    const bytes = encodeFrameView(makeFrame(payload, frame), LIMITS);
    if (this.used === 0) setImmediate(() => this.flush());
    if (this.used + bytes.length > this.message.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.used + bytes.length, 2 * this.message.length, 2048));
      grown.set(this.message.subarray(0, this.used));
      this.message = grown;
    }
    this.message.set(bytes, this.used);
    this.used += bytes.length;
    if ('assignment' in payload) this.onAssignment(this, payload.assignment);
    return true;
  }
  private flush(): void {
    this.message = new Uint8Array(0);
    this.used = 0;
  }
  bufferedAmount(): number {
    return 0;
  }
  close(): void {}
}

/** The whole loop after intake: every task dispatched, assigned, answered, acked. */
async function engineRound(): Promise<Sample> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flock-dispatch-bench-'));
  const config = resolveConfig({ dataDir, spotChecks: false });
  const store = new SqliteStore(dataDir);
  await store.migrate();
  let coordinator: Coordinator | undefined;
  const metrics = metricsOf(store, () => coordinator);
  const hub = new EventsHub(config.maxBufferedBytes);
  const c = new Coordinator(config, store, new BlobStore(dataDir), hub, metrics, pino({ level: 'silent' }));
  coordinator = c;
  await c.start();
  for (let b = 0; b < TASKS; b += 1000) {
    const items = [];
    for (let i = b; i < Math.min(TASKS, b + 1000); i++)
      items.push({ tenant: 'a', envelope: envelope(i, `bench-${b}`) });
    await c.submit(items);
  }
  let done = 0;
  let finished: () => void = () => {};
  const all = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const answer = (link: EncodingLink, a: ComputeAssignment): void => {
    setImmediate(async () => {
      await c.handleResult(link.worker!, {
        task_id: a.task_id ?? '',
        lease_id: a.lease_id ?? '',
        task_token: a.task_token ?? '',
        worker_id: link.worker!.workerId,
        outputs: [{ name: 'sum', inline_json: '120' }],
      });
      done += 1;
      if (done === TASKS) finished();
    });
  };
  const out = await sample(TASKS, async () => {
    for (let v = 0; v < VOLUNTEERS; v++) {
      const link = new EncodingLink(answer);
      const hello = await c.hello(link, {
        protocol_version: 1,
        capability: { wasm: true, cross_origin_isolated: true, cpu_slots: SLOTS, batch_frames: 64 },
      });
      link.worker = hello.worker;
      c.ready(hello.worker);
    }
    await all;
  });
  await c.stop();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
  return out;
}

function assignmentFrame(i: number): [Frame_Payload, FrameOptions] {
  const env = envelope(i, 'bench-0');
  env.correlation_id = '0af7651916cd43dd8448eb211c80319c';
  return [
    {
      assignment: {
        task_id: env.task_id!,
        worker_id: 'w-4f1c2d3e4f5a6b7c',
        lease_id: `l-mbx3k2ab1c2d3e4f-${i.toString(36).padStart(8, '0')}`,
        lease_expires_at_ms: 1_765_000_000_000 + i,
        attempt: 1,
        task_token: 'hmac:Qm9ndXNUb2tlbkZvckJlbmNoMDEyMzQ1Njc4OWFiY2RlZg',
        envelope: env,
      },
    },
    {
      trace: {
        span_id: '00f067aa0ba902b7',
        correlation_id: env.correlation_id,
        parent_id: 'b7ad6b7169203331',
      },
      metadata: { tenant: 'a', campaign_id: 'bench-0' },
    },
  ];
}

async function frameRound(kind: 'assign' | 'ack'): Promise<Sample> {
  const n = TASKS * 5;
  const frames =
    kind === 'assign'
      ? Array.from({ length: n }, (_, i) => assignmentFrame(i))
      : Array.from({ length: n }, (_, i): [Frame_Payload, FrameOptions] => [
          { result_ack: { task_id: `b-${i}`, lease_id: `l-mbx3k2ab1c2d3e4f-${i}`, accepted: true } },
          {},
        ]);
  return sample(n, () => {
    for (const [payload, options] of frames) encodeFrame(makeFrame(payload, options), LIMITS);
  });
}

async function scheduleRound(): Promise<Sample> {
  const workers: SchedWorker[] = Array.from({ length: VOLUNTEERS }, (_, v) => ({
    workerId: `w-${v}`,
    capability: { wasm: true, cross_origin_isolated: true, cpu_slots: SLOTS },
    cachedModules: new Set<string>(),
    runningCpu: 0,
    runningGpu: 0,
    maxSlots: 16,
    reliability: 0.5,
    blocked: false,
  }));
  const tasks: SchedTask[] = Array.from({ length: TASKS }, (_, i) => ({
    uid: i + 1,
    tenant: 'a',
    priority: 0,
    deadlineAtMs: undefined,
    min: { wasm: true },
    preferred: undefined,
    moduleHash: undefined,
    gpu: false,
    queuedAtMs: 0,
  }));
  const s = new Scheduler();
  return sample(TASKS, () => {
    for (const t of tasks) s.enqueue(t);
    // Passes as in the bench: a few slots free at a time (a turn's results), not all 400 at once.
    while (s.size > 0) {
      for (const w of workers) w.runningCpu = 0;
      for (const m of s.assign(workers)) s.setRunning(m.task.tenant, -1);
    }
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  if (!gc) console.log('(no --expose-gc: bytes include garbage a scavenge already took)');
  const rounds: Record<string, () => Promise<Sample>> = {
    engine: engineRound,
    assign: () => frameRound('assign'),
    ack: () => frameRound('ack'),
    schedule: scheduleRound,
  };
  const results = new Map<string, Sample[]>();
  // Rounds interleaved, one warm-up round first.
  for (let r = 0; r <= ROUNDS; r++) {
    for (const [name, round] of Object.entries(rounds)) {
      if (!ONLY.has(name)) continue;
      const s = await round();
      if (r > 0) results.set(name, [...(results.get(name) ?? []), s]);
    }
  }
  console.log(`dispatch costs: ${TASKS} tasks, ${ROUNDS} rounds (medians)`);
  for (const [name, samples] of results) {
    const us = median(samples.map((s) => s.us));
    const bytes = median(samples.map((s) => s.bytes));
    console.log(
      `  ${name.padEnd(9)} ${us.toFixed(2).padStart(8)} µs ${Math.round(bytes).toString().padStart(7)} B per task   (µs ${samples.map((s) => s.us.toFixed(1)).join(' ')})`,
    );
  }
}

await main();
