// What a volunteer's result costs the coordinator, from the WebSocket message to its result_ack
// and the freed slot: a Coordinator on SQLite in a temp dir, real WorkerSessions on sockets that
// only record what is sent, volunteers of 2 slots that batch frames (as the bench's). Each round
// leases one task a slot (not measured), then hands every session its message of results (16
// sessions a turn) and measures until the last ack is written: CPU µs or heap bytes per task.
//
//   npx tsx bench/coordinator/result-costs.ts [--rounds 70] [--workers 100] [--one-a-message]
//     [--profile]
//   node --expose-gc --max-semi-space-size=512 --min-semi-space-size=512 --import tsx \
//     bench/coordinator/result-costs.ts
//
// The first prints CPU µs a task (GC included). The second bytes allocated a task: the young
// generation is made large enough that no scavenge runs in a round, so the heap's growth over a
// round is what the round allocated (check with --trace-gc). `--profile` adds where the measured
// phases spend CPU and allocate, by function (inspector sampling).
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import {
  type ComputeAssignment,
  decodeFrames,
  encodeFrame,
  type Frame,
  type Frame_Payload,
  joinFrames,
  makeFrame,
  resolveLimits,
} from '@flock/protocol';
import { pino } from 'pino';
import { resolveConfig } from '../../apps/coordinator/src/config.ts';
import { EventsHub } from '../../apps/coordinator/src/edge/events-hub.ts';
import { WorkerSession } from '../../apps/coordinator/src/edge/worker-session.ts';
import { Coordinator } from '../../apps/coordinator/src/engine/coordinator.ts';
import { metricsOf } from '../../apps/coordinator/src/start-coordinator.ts';
import { BlobStore } from '../../apps/coordinator/src/store/blob-store.ts';
import { SqliteStore } from '../../apps/coordinator/src/store/sqlite-store.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg('--rounds', 70);
/** Also print where the measured phases spend CPU and allocate (inspector sampling; slower). */
const PROFILE = process.argv.includes('--profile');
/** Each result a message of its own (a volunteer whose jobs end in different turns). */
const ONE_A_MESSAGE = process.argv.includes('--one-a-message');
const WORKERS = arg('--workers', 100);
const SLOTS = 2;
const PER_TURN = 16;
/** Rounds left out while the JIT settles (and with it, what escape analysis saves). */
const WARMUP = 10;
const LIMITS = resolveLimits({ maxFrameBytes: 64 << 20 });
const gc = (globalThis as { gc?: () => void }).gc;

/** The socket a WorkerSession writes to: every message kept, nothing sent. */
class RecordingSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  sent: Uint8Array[] = [];
  readonly _socket = { cork() {}, uncork() {} };
  send(bytes: Uint8Array): void {
    this.sent.push(bytes);
  }
  close(): void {
    this.readyState = 3;
  }
  pause(): void {}
  resume(): void {}
  /** The frames sent since the last call. */
  take(): Frame[] {
    const out = this.sent.flatMap((m) => decodeFrames(m, LIMITS));
    this.sent = [];
    return out;
  }
  deliver(payloads: Frame_Payload[]): void {
    const frames = payloads.map((p) => encodeFrame(makeFrame(p), LIMITS));
    this.emit('message', Buffer.from(joinFrames(frames)), true);
  }
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize?: number;
  hitCount?: number;
  children?: ProfileNode[] | number[];
  id?: number;
}

/** CPU and allocation samples of the measured phases, summed by function. */
class Profiler {
  private readonly session = new Session();
  private readonly cpu = new Map<string, number>();
  private readonly heap = new Map<string, number>();
  private cpuTotal = 0;
  private connected = false;

  async start(): Promise<void> {
    if (!this.connected) {
      this.connected = true;
      this.session.connect();
      await this.session.post('Profiler.enable');
      await this.session.post('Profiler.setSamplingInterval', { interval: 50 });
      await this.session.post('HeapProfiler.enable');
    }
    await this.session.post('HeapProfiler.startSampling', {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    await this.session.post('Profiler.start');
  }

  async stop(): Promise<void> {
    const { profile } = (await this.session.post('Profiler.stop')) as unknown as {
      profile: { nodes: ProfileNode[]; samples: number[] };
    };
    const byId = new Map(profile.nodes.map((n) => [n.id!, n]));
    for (const id of profile.samples) {
      const key = Profiler.key(byId.get(id)!);
      this.cpu.set(key, (this.cpu.get(key) ?? 0) + 1);
      this.cpuTotal += 1;
    }
    const { profile: heap } = (await this.session.post('HeapProfiler.stopSampling')) as unknown as {
      profile: { head: ProfileNode };
    };
    // Built-ins (no file) are shown under their caller: `next` says little on its own.
    const walk = (n: ProfileNode, caller = ''): void => {
      const key = n.callFrame.url ? Profiler.key(n) : `${Profiler.key(n)} < ${caller}`;
      this.heap.set(key, (this.heap.get(key) ?? 0) + (n.selfSize ?? 0));
      for (const child of (n.children ?? []) as ProfileNode[]) walk(child, n.callFrame.url ? key : caller);
    };
    walk(heap.head);
  }

  print(tasks: number): void {
    const top = (m: Map<string, number>, f: (v: number) => string): void => {
      const rows = [...m].sort((a, b) => b[1] - a[1]).slice(0, 40);
      for (const [k, v] of rows) console.log(`  ${f(v).padStart(10)}  ${k}`);
    };
    console.log('CPU samples (share of the measured phases), by function:');
    top(this.cpu, (v) => `${((100 * v) / this.cpuTotal).toFixed(1)} %`);
    console.log('allocation (bytes a task), by function:');
    top(this.heap, (v) => (v / tasks).toFixed(0));
  }

  private static key(n: ProfileNode): string {
    const f = n.callFrame;
    const file = f.url.replace(/^.*\/(apps|packages|node_modules)\//, '$1/');
    return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
  }
}

/**
 * Bytes in the young generation, where a round's objects are allocated: the whole heap's size
 * also moves with what the JIT compiles (code, feedback), by several KB a task from round to round.
 */
function youngBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
async function until(fn: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await turn();
  }
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flock-result-costs-'));
  const config = resolveConfig({ dataDir, extraOps: ['sum'], spotChecks: false });
  const store = new SqliteStore(dataDir);
  await store.migrate();
  let coordinator: Coordinator | undefined;
  const metrics = metricsOf(store, () => coordinator);
  const log = pino({ level: 'silent' });
  const c = new Coordinator(config, store, new BlobStore(dataDir), new EventsHub(1 << 20), metrics, log);
  coordinator = c;
  await c.start();
  const profiler = new Profiler();
  const sockets: RecordingSocket[] = [];
  const workerIds: string[] = [];
  for (let w = 0; w < WORKERS; w++) {
    const socket = new RecordingSocket();
    new WorkerSession(socket as never, c, config, log, 'bench').start(true, undefined);
    socket.deliver([
      { hello: { protocol_version: 1, capability: { wasm: true, cpu_slots: SLOTS, batch_frames: 64 } } },
    ]);
    await until(() => socket.sent.length > 0);
    const welcome = socket.take().find((f) => 'welcome' in f.payload!)?.payload;
    if (!welcome || !('welcome' in welcome)) throw new Error('no welcome');
    workerIds.push(welcome.welcome.worker_id ?? '');
    sockets.push(socket);
  }
  const perRound = WORKERS * SLOTS;
  const cpu: number[] = [];
  const bytes: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const envelopes = Array.from({ length: perRound }, (_, i) => ({
      task_id: `r${round}-${i}`,
      campaign_id: `bench-${round}`,
      op: 'sum',
      module: { kind: 'builtin' as const },
      requirements: { min: { wasm: true } },
      inputs: [{ name: 'x', inline_bytes: new Uint8Array(16).fill(i & 0xff) }],
    }));
    await c.submit(envelopes.map((envelope) => ({ tenant: 'a', envelope })));
    await until(() => c.leases.size === perRound);
    for (let i = 0; i < 4; i++) await turn(); // the lease commit's writes leave
    // What each volunteer sends back: one message with a result for each of its assignments,
    // echoing the assignment frame's trace and metadata as the tabs and the simulated ones do.
    const messages = sockets.map((socket, w) => {
      const assigned = socket.take().filter((f) => 'assignment' in f.payload!);
      if (assigned.length !== SLOTS) throw new Error(`worker ${w}: ${assigned.length} assignments`);
      const frames = assigned.map((frame) => {
        const a = (frame.payload as { assignment: ComputeAssignment }).assignment;
        let sum = 0;
        for (const b of a.envelope?.inputs?.[0]?.inline_bytes ?? []) sum += b;
        const result = {
          task_id: a.task_id ?? '',
          lease_id: a.lease_id ?? '',
          task_token: a.task_token ?? '',
          worker_id: workerIds[w]!,
          outputs: [{ name: 'sum', inline_json: String(sum) }],
          executor: 'sim',
          duration_ms: 1,
        };
        const echo = {
          ...(frame.trace && { trace: frame.trace }),
          ...(frame.metadata && { metadata: frame.metadata }),
        };
        return encodeFrame(makeFrame({ result }, echo), LIMITS);
      });
      return ONE_A_MESSAGE ? frames.map((f) => Buffer.from(f)) : [Buffer.from(joinFrames(frames))];
    });
    if (PROFILE && round >= WARMUP) await profiler.start();
    gc?.();
    const heap = youngBytes();
    const start = process.cpuUsage();
    for (let w = 0; w < WORKERS; w++) {
      for (const message of messages[w]!) sockets[w]!.emit('message', message, true);
      if ((w + 1) % PER_TURN === 0) await turn();
    }
    await until(() => c.leases.size === 0);
    // The last acks leave when their socket is uncorked, two turns after they were sent.
    for (let i = 0; i < 3; i++) await turn();
    const used = process.cpuUsage(start);
    const allocated = youngBytes() - heap;
    if (PROFILE && round >= WARMUP) await profiler.stop();
    let accepted = 0;
    for (const s of sockets)
      for (const { payload: p } of s.take())
        if (p && 'result_ack' in p && p.result_ack.accepted) accepted += 1;
    if (accepted !== perRound) throw new Error(`round ${round}: ${accepted} of ${perRound} accepted`);
    if (round >= WARMUP) {
      cpu.push((used.user + used.system) / perRound);
      bytes.push(allocated / perRound);
    }
  }
  if (PROFILE) profiler.print(cpu.length * perRound);
  if (process.env.ROUNDS_DEBUG) console.log((gc ? bytes : cpu).map((x) => x.toFixed(0)).join(' '));
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const what = `result path, ${WORKERS} × ${SLOTS} slots, ${cpu.length} rounds of ${perRound}`;
  // A young generation of 512 MiB makes the CPU figure meaningless (every allocation touches
  // fresh memory), and a normal one makes the heap figure meaningless: one or the other a run.
  // Rounds differ by a few KB a task (how the commits and dispatch passes fall in turns): the
  // mean and its standard error say more than one run's median.
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const se = (xs: number[]): number =>
    Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1) / xs.length);
  if (gc) {
    const [m, e] = [Math.round(mean(bytes)), Math.round(se(bytes))];
    console.log(`${what}: ${m} ± ${e} bytes allocated a task (mean ± standard error)`);
  } else {
    const q = [...cpu].sort((a, b) => a - b)[Math.floor(cpu.length / 4)]!;
    console.log(`${what}: ${median(cpu).toFixed(1)} µs CPU a task (median; lower quartile ${q.toFixed(1)})`);
  }
  await c.stop();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
}

await main();
