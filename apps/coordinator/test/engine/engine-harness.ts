// The engine without HTTP or sockets: a Coordinator on a real SQLite file in a temp directory,
// volunteers as links that record every frame sent to them, and events recorded as published.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  Capability,
  ComputeAssignment,
  ComputeEnvelope,
  ComputeResult,
  Frame_Payload,
  Hello,
} from '@flock/protocol';
import { pino } from 'pino';
import { type CoordinatorConfig, resolveConfig } from '../../src/config.ts';
import { EventsHub, type TaskEvent } from '../../src/edge/events-hub.ts';
import { Coordinator, type WorkerLink, type WorkerState } from '../../src/engine/coordinator.ts';
import { metricsOf } from '../../src/start-coordinator.ts';
import { BlobStore } from '../../src/store/blob-store.ts';
import { SqliteStore } from '../../src/store/sqlite-store.ts';

/** A volunteer's end of the engine: every frame the engine sends it, in order. */
export class RecordingLink implements WorkerLink {
  readonly frames: Frame_Payload[] = [];
  closedWith: { code: number; reason: string } | undefined;

  send(payload: Frame_Payload): boolean {
    if (this.closedWith) return false;
    this.frames.push(payload);
    return true;
  }

  bufferedAmount(): number {
    return 0;
  }

  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
  }

  get assignments(): ComputeAssignment[] {
    return this.frames.flatMap((f) => ('assignment' in f ? [f.assignment] : []));
  }

  get cancels(): Array<{ lease_id?: string; reason?: string }> {
    return this.frames.flatMap((f) => ('cancel' in f ? [f.cancel] : []));
  }
}

/** The events hub, recording what the engine publishes. */
class RecordingHub extends EventsHub {
  readonly events: TaskEvent[] = [];
  readonly notices: Array<{ topic: string; tenant?: string; payload: unknown }> = [];
  override publish(event: TaskEvent): void {
    this.events.push(event);
    super.publish(event);
  }
  override publishNotice(notice: { topic: string; tenant?: string; payload: unknown }, nowMs?: number): void {
    this.notices.push(notice);
    super.publishNotice(notice, nowMs);
  }
}

export interface Volunteer {
  worker: WorkerState;
  link: RecordingLink;
  sessionToken: string;
}

export class EngineHarness {
  private constructor(
    readonly coordinator: Coordinator,
    readonly store: SqliteStore,
    readonly hub: RecordingHub,
    readonly dir: string,
  ) {}

  static async start(overrides: Partial<CoordinatorConfig> = {}, dir?: string): Promise<EngineHarness> {
    const dataDir = dir ?? mkdtempSync(join(tmpdir(), 'flock-engine-'));
    const config = resolveConfig({ dataDir, spotChecks: false, retryBaseMs: 20, ...overrides });
    const store = new SqliteStore(dataDir);
    await store.migrate();
    const hub = new RecordingHub(config.maxBufferedBytes);
    let coordinator: Coordinator | undefined;
    const metrics = metricsOf(store, () => coordinator);
    coordinator = new Coordinator(
      config,
      store,
      new BlobStore(dataDir),
      hub,
      metrics,
      pino({ level: 'silent' }),
    );
    await coordinator.start();
    return new EngineHarness(coordinator, store, hub, dataDir);
  }

  /** Says hello as a volunteer with `capability` (one CPU slot by default) and makes it ready. */
  async connect(
    capability: Capability = { wasm: true, cpu_slots: 1 },
    hello: Partial<Hello> = {},
  ): Promise<Volunteer> {
    const link = new RecordingLink();
    const out = await this.coordinator.hello(link, { protocol_version: 1, capability, ...hello });
    link.send({ welcome: out.welcome });
    for (const ack of out.acks) link.send({ result_ack: ack });
    for (const cancel of out.cancels) link.send({ cancel });
    this.coordinator.ready(out.worker);
    return { worker: out.worker, link, sessionToken: out.welcome.session_token ?? '' };
  }

  async submit(...envelopes: ComputeEnvelope[]): Promise<void> {
    await this.coordinator.submit(envelopes.map((envelope) => ({ tenant: 'a', envelope })));
  }

  /** The `n`th assignment the volunteer receives (waits for it). */
  async assignment(v: Volunteer, n = 0): Promise<ComputeAssignment> {
    await until(() => v.link.assignments.length > n, `assignment ${n}`);
    return v.link.assignments[n]!;
  }

  /** Reports a failure for `a`. */
  fail(v: Volunteer, a: ComputeAssignment, code: string, retryable: boolean): Promise<unknown> {
    return this.coordinator.handleFailure(v.worker, {
      task_id: a.task_id ?? '',
      lease_id: a.lease_id ?? '',
      task_token: a.task_token ?? '',
      code,
      message: `${code} here`,
      retryable,
    });
  }

  /** A metric's samples as Prometheus prints them (`name{labels} value` lines). */
  async metric(name: string): Promise<string[]> {
    const text = await this.coordinator.metrics.registry.metrics();
    return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  }

  /** Reports a result for `a` with one output. */
  result(v: Volunteer, a: ComputeAssignment, bytes = new Uint8Array([7])): Promise<unknown> {
    const result: ComputeResult = {
      task_id: a.task_id ?? '',
      lease_id: a.lease_id ?? '',
      task_token: a.task_token ?? '',
      worker_id: v.worker.workerId,
      outputs: [{ name: 'out', inline_bytes: bytes }],
    };
    return this.coordinator.handleResult(v.worker, result);
  }

  async state(taskId: string): Promise<string | undefined> {
    return (await this.store.getTask('a', taskId))?.state;
  }

  async attempts(taskId: string): Promise<Array<[string | undefined, string | undefined]>> {
    const task = await this.store.getTask('a', taskId);
    if (!task) return [];
    return (await this.store.listAttempts(task.uid)).map((a) => [a.outcome, a.code]);
  }

  topics(taskId: string): string[] {
    return this.hub.events.filter((e) => e.taskId === taskId).map((e) => e.topic);
  }

  async stop(keep = false): Promise<void> {
    await this.coordinator.stop();
    await this.store.close();
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A built-in task for tenant `a`, run by a CPU slot. */
export function task(taskId: string, extra: Partial<ComputeEnvelope> = {}): ComputeEnvelope {
  return {
    task_id: taskId,
    op: 'sum',
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', inline_bytes: new Uint8Array([1, 2, 3]) }],
    ...extra,
  };
}

/** Polls `fn` (no fixed sleeps) until it holds, for at most 5 s. */
export async function until(
  fn: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
