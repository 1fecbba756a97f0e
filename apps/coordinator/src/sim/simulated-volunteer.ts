import { EventEmitter } from 'node:events';
import {
  type Capability,
  type ComputeAssignment,
  type ComputeFailure,
  type ComputeResult,
  decodeFrame,
  decodeFrames,
  encodeFrame,
  type Frame,
  type Frame_Payload,
  type FrameOptions,
  type Hello,
  joinFrames,
  type LeaseRenewal,
  MAX_BATCH_FRAMES,
  makeFrame,
  type ResultAck,
  resolveLimits,
  type Standing,
  type Welcome,
} from '@flock/protocol';
import WebSocket from 'ws';
import { lieAbout, referenceRunner, type SimOutcome, type SimRunner } from './runners.ts';
import { fetchInputs, fetchModel, type LeaseBase, streamLarge } from './transfers.ts';

export {
  echoRunner,
  libraryRunner,
  referenceRunner,
  type SimJob,
  type SimOutcome,
  type SimRunner,
  sumRunner,
} from './runners.ts';

export interface SimulatedVolunteerOptions {
  /** Coordinator base URL (`http://host:port`) or the worker endpoint (`ws://host:port/v1/worker`). */
  url: string;
  /** Merged over a CPU-only, cross-origin-isolated default with 2 CPU slots. */
  capability?: Capability;
  /**
   * Runs each job; default `referenceRunner` (built-in ops by their CPU reference, as an honest
   * CPU volunteer would, so it passes known-answer checks; anything else by `sumRunner`).
   */
  run?: SimRunner;
  /** Origin header to send (browsers always send one; Node clients need not). */
  origin?: string;
  /** More headers of the upgrade request (a browser's User-Agent, for the audit log's fingerprint). */
  headers?: Record<string, string>;
  /** Reconnect after the connection drops (resuming the session, resending results). Default false. */
  reconnect?: boolean;
  /** Resume this identity. */
  sessionToken?: string;
  /**
   * Lie: report a wrong answer (sum + 1, bytes corrupted), for verification tests; a function
   * lies only about the assignments it picks (a cheater that answers some tasks honestly).
   * Default false.
   */
  lie?: boolean | ((assignment: ComputeAssignment) => boolean);
}

const SIM_LIMITS = resolveLimits({ maxFrameBytes: 64 << 20 });

/** The default capability of a simulated volunteer. */
export const SIM_CAPABILITY: Capability = {
  wasm: true,
  wasm_simd: true,
  wasm_bulk_memory: true,
  cpu_cores: 4,
  memory_mb: 4096,
  cross_origin_isolated: true,
  shared_array_buffer: true,
  cpu_slots: 2,
  gpu_slots: 0,
  visible: true,
  labels: { browser: 'flock-sim' },
};

interface RunningJob {
  assignment: ComputeAssignment;
  abort: AbortController;
}

/**
 * A volunteer tab simulated in Node: the real Contract A protocol over a real WebSocket. It says
 * hello, runs assignments with a pluggable runner, sends progress and results (streaming outputs
 * too big for a frame), heartbeats, acks cancels, keeps unacknowledged results and resends them
 * in the next hello. It can be told to lie, stall (stop heartbeats and hang jobs), or drop.
 *
 * Events: `hello` (Hello, as sent), `welcome` (Welcome), `assignment` (ComputeAssignment), `cancel` (Cancel), `ack`
 * (ResultAck), `error-frame` (ErrorMessage), `heartbeat-ack` (LeaseRenewal[]), `close` (code, reason).
 */
export class SimulatedVolunteer extends EventEmitter {
  readonly options: SimulatedVolunteerOptions;
  capability: Capability;
  workerId = '';
  sessionToken: string | undefined;
  welcome: Welcome | undefined;
  /** Trust standing and credit as the coordinator last reported it (welcome, heartbeat ack). */
  standing: Standing | undefined;
  /** Results and failures sent but not yet acknowledged, by lease id. */
  readonly unacked = new Map<string, { result?: ComputeResult; failure?: ComputeFailure }>();
  readonly running = new Map<string, RunningJob>();
  readonly acks: ResultAck[] = [];
  /** Assignments received, in order. */
  readonly assignments: ComputeAssignment[] = [];
  /** The trace and metadata of each lease's assignment, echoed on its frames until acked. */
  private readonly traces = new Map<string, FrameOptions>();
  lastClose: { code: number; reason: string } | undefined;
  private socket: WebSocket | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private stalled = false;
  private stopped = false;
  private reconnectDelay = 50;
  private outbox: Uint8Array[] = [];
  private outboxBytes = 0;

  private constructor(options: SimulatedVolunteerOptions) {
    super();
    this.options = options;
    this.capability = { ...SIM_CAPABILITY, ...options.capability };
    this.sessionToken = options.sessionToken;
  }

  /** Connects and resolves after the welcome (rejects if the connection closes first). */
  static async connect(options: SimulatedVolunteerOptions): Promise<SimulatedVolunteer> {
    const sim = new SimulatedVolunteer(options);
    await sim.open();
    return sim;
  }

  /** Opens a (new) connection and says hello; resolves on welcome. */
  open(): Promise<Welcome> {
    const socket = new WebSocket(workerEndpoint(this.options.url), {
      ...(this.options.origin ? { origin: this.options.origin } : {}),
      ...(this.options.headers ? { headers: this.options.headers } : {}),
    });
    socket.binaryType = 'nodebuffer';
    this.socket = socket;
    return new Promise<Welcome>((resolve, reject) => {
      let welcomed = false;
      socket.on('open', () => this.sayHello());
      socket.on('message', (data: Buffer) => {
        for (const frame of this.decode(data)) {
          const payload = frame.payload!;
          if ('welcome' in payload) {
            welcomed = true;
            this.onWelcome(payload.welcome);
            resolve(payload.welcome);
          } else this.onFrame(payload, frame);
        }
      });
      socket.on('close', (code: number, reason: Buffer) => {
        this.onClose(code, reason.toString());
        if (!welcomed) reject(new Error(`closed before welcome: ${code} ${reason.toString()}`));
        if (this.socket === socket && this.options.reconnect && !this.stopped) this.scheduleReconnect();
      });
      socket.on('error', (err) => {
        this.emit('socket-error', err);
      });
    });
  }

  /** The hello of a (re)connection: identity, leases still running, results not yet acknowledged. */
  private sayHello(): void {
    const undelivered = [...this.unacked.values()].flatMap((u) => (u.result ? [u.result] : []));
    const hello: Hello = {
      protocol_version: 1,
      capability: this.capability,
      session_token: this.sessionToken ?? '',
      in_flight: [...this.running.keys()],
      undelivered,
      client: 'flock-sim',
    };
    this.emit('hello', hello);
    this.send({ hello });
  }

  /**
   * A message's frames (several only when the capability says `batch_frames` > 1); none (and a
   * `decode-error` event) when it does not decode.
   */
  private decode(data: Buffer): Frame[] {
    this.emit('frame-bytes', data); // every message as received, for tests of what volunteers see
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    try {
      const batch = this.capability.batch_frames ?? 0;
      return batch > 1 ? decodeFrames(bytes, SIM_LIMITS, batch) : [decodeFrame(bytes, SIM_LIMITS)];
    } catch (err) {
      this.emit('decode-error', err);
      return [];
    }
  }

  private onClose(code: number, reason: string): void {
    this.lastClose = { code, reason };
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.emit('close', code, reason);
  }

  private scheduleReconnect(): void {
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(1000, this.reconnectDelay * 2);
    setTimeout(() => {
      if (this.stopped) return;
      this.open().catch(() => {
        // the close handler schedules the next try
      });
    }, delay).unref();
  }

  private onWelcome(welcome: Welcome): void {
    this.welcome = welcome;
    this.workerId = welcome.worker_id ?? '';
    if (welcome.standing) this.standing = welcome.standing;
    this.sessionToken = welcome.session_token;
    this.reconnectDelay = 50;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), welcome.heartbeat_ms ?? 10_000);
    this.heartbeatTimer.unref();
    // Failures are not part of hello: resend them now.
    for (const pending of this.unacked.values()) if (pending.failure) this.send({ failure: pending.failure });
    this.emit('welcome', welcome);
  }

  private heartbeat(): void {
    if (this.stalled) return;
    this.send({ heartbeat: { seq: ++this.seq, lease_ids: [...this.running.keys()] } });
  }

  private onFrame(payload: Frame_Payload, frame: Frame): void {
    if ('assignment' in payload) {
      const assignment = payload.assignment;
      // Echoed on every frame of the lease, as a tab does (#19).
      if (frame.trace || frame.metadata) {
        const echo: FrameOptions = {};
        if (frame.trace) echo.trace = frame.trace;
        if (frame.metadata) echo.metadata = frame.metadata;
        this.traces.set(assignment.lease_id ?? '', echo);
      }
      this.assignments.push(assignment);
      this.emit('assignment', assignment);
      void this.runJob(assignment);
    } else if ('cancel' in payload) {
      const cancel = payload.cancel;
      this.emit('cancel', cancel);
      this.running.get(cancel.lease_id ?? '')?.abort.abort();
      this.running.delete(cancel.lease_id ?? '');
      this.traces.delete(cancel.lease_id ?? '');
      if (!this.stalled)
        this.send({ cancel_ack: { task_id: cancel.task_id ?? '', lease_id: cancel.lease_id ?? '' } });
    } else if ('result_ack' in payload) {
      // Defaults are omitted on the wire: spell the ack out in full for listeners.
      const raw = payload.result_ack;
      const ack: ResultAck = {
        task_id: raw.task_id ?? '',
        lease_id: raw.lease_id ?? '',
        accepted: raw.accepted === true,
      };
      if (raw.code) ack.code = raw.code;
      this.unacked.delete(ack.lease_id ?? '');
      this.traces.delete(ack.lease_id ?? '');
      this.acks.push(ack);
      this.emit('ack', ack);
    } else if ('heartbeat_ack' in payload) {
      const leases: LeaseRenewal[] = payload.heartbeat_ack.leases ?? [];
      for (const l of leases) {
        if (l.valid) continue;
        this.running.get(l.lease_id ?? '')?.abort.abort();
        this.running.delete(l.lease_id ?? '');
      }
      if (payload.heartbeat_ack.standing) this.standing = payload.heartbeat_ack.standing;
      this.emit('heartbeat-ack', leases);
    } else if ('error' in payload) {
      this.emit('error-frame', payload.error);
    }
  }

  private async runJob(assignment: ComputeAssignment): Promise<void> {
    const leaseId = assignment.lease_id ?? '';
    const abort = new AbortController();
    this.running.set(leaseId, { assignment, abort });
    const startedAtMs = performance.now();
    const run = this.options.run ?? referenceRunner;
    let outcome: SimOutcome;
    try {
      assignment = await fetchInputs(this.options.url, assignment);
      outcome = await run({
        assignment,
        signal: abort.signal,
        models: (hash) => fetchModel(this.options.url, hash),
        progress: (pct, metrics) => {
          if (!abort.signal.aborted && !this.stalled) {
            this.send(
              {
                progress: {
                  task_id: assignment.task_id ?? '',
                  lease_id: leaseId,
                  pct,
                  metrics: metrics ?? {},
                },
              },
              this.traces.get(leaseId),
            );
          }
        },
      });
    } catch (err) {
      outcome = { failure: { code: 'EXECUTION_ERROR', message: String(err), retryable: true } };
    }
    if (abort.signal.aborted || this.running.get(leaseId)?.abort !== abort) return;
    // A stalled tab hangs: the job never finishes.
    while (this.stalled) await new Promise((r) => setTimeout(r, 50));
    if (abort.signal.aborted || this.stopped) return;
    this.running.delete(leaseId);
    this.report(assignment, outcome, startedAtMs);
  }

  /** Sends the job's failure or result (lying if told to), kept until acknowledged. */
  private report(assignment: ComputeAssignment, outcome: SimOutcome, startedAtMs: number): void {
    const leaseId = assignment.lease_id ?? '';
    const base: LeaseBase & { worker_id: string } = {
      task_id: assignment.task_id ?? '',
      lease_id: leaseId,
      task_token: assignment.task_token ?? '',
      worker_id: this.workerId,
    };
    if ('failure' in outcome) {
      const failure: ComputeFailure = { ...base, ...outcome.failure };
      this.unacked.set(leaseId, { failure });
      this.send({ failure }, this.traces.get(leaseId));
      return;
    }
    const lie = this.options.lie;
    const lying = typeof lie === 'function' ? lie(assignment) : lie === true;
    const outputs = lying ? outcome.outputs.map(lieAbout) : outcome.outputs;
    // Outputs too big for a frame go as streams first. `base` carries worker_id, which StreamStart
    // does not define; it is passed whole, as before the split.
    const limit = this.welcome?.max_frame_bytes ?? 1 << 20;
    const result: ComputeResult = {
      ...base,
      outputs: streamLarge((p) => this.send(p, this.traces.get(leaseId)), limit, base, outputs),
    };
    if (outcome.summary) result.summary = outcome.summary;
    result.executor = outcome.executor ?? 'sim';
    // Compute time as a tab reports it (credit is weighted by it); at least 1 ms.
    result.duration_ms = Math.max(1, Math.round(performance.now() - startedAtMs));
    this.unacked.set(leaseId, { result });
    this.send({ result }, this.traces.get(leaseId));
  }

  /**
   * Sends one frame (`frame`: the trace and metadata it echoes); false when the socket is not
   * open. Emits `frame-out` with the frame, for tests of what volunteers send.
   */
  send(payload: Frame_Payload, frame?: FrameOptions): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    const out = makeFrame(payload, frame);
    if (this.listenerCount('frame-out') > 0) this.emit('frame-out', out);
    const bytes = encodeFrame(out, SIM_LIMITS);
    const batch = Math.min(this.capability.batch_frames ?? 0, MAX_BATCH_FRAMES);
    // After the welcome, a batching volunteer sends the frames of one turn as one message.
    if (batch <= 1 || !this.welcome || 'hello' in payload) {
      socket.send(bytes);
      return true;
    }
    const limit = this.welcome.max_frame_bytes || 1 << 20;
    if (this.outbox.length >= batch || this.outboxBytes + bytes.length > limit) this.flush();
    if (this.outbox.length === 0) setImmediate(() => this.flush());
    this.outbox.push(bytes);
    this.outboxBytes += bytes.length;
    return true;
  }

  private flush(): void {
    const frames = this.outbox;
    if (frames.length === 0) return;
    this.outbox = [];
    this.outboxBytes = 0;
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(joinFrames(frames));
  }

  /** Sends raw bytes (malformed-frame tests). */
  sendRaw(data: Uint8Array | string, binary = true): void {
    this.socket?.send(data, { binary });
  }

  /** Publishes a capability change (merged over the current one). */
  setCapability(change: Capability): void {
    this.capability = { ...this.capability, ...change };
    this.send({ capability: this.capability });
  }

  pause(): void {
    this.setCapability({ paused: true });
  }

  resume(): void {
    this.setCapability({ paused: false });
  }

  /** Stops heartbeats and holds every job (a hung tab); `false` lets it go on. */
  stall(on = true): void {
    this.stalled = on;
  }

  /** Drops the connection abruptly (like a closed laptop); reconnects if `reconnect` is set. */
  disconnect(): void {
    this.socket?.terminate();
  }

  /**
   * The first assignment of task `taskId`: one received already or the next to come. A task that
   * can start at once is assigned before its 201 is answered, so a test that posts and then waits
   * for the event would miss it.
   */
  assignmentOf(taskId: string, timeoutMs = 10_000): Promise<ComputeAssignment> {
    const seen = this.assignments.find((a) => a.task_id === taskId);
    if (seen) return Promise.resolve(seen);
    return this.waitFor<ComputeAssignment>('assignment', (a) => a.task_id === taskId, timeoutMs);
  }

  /** Waits for the next event matching `predicate`. */
  waitFor<T = unknown>(
    event: string,
    predicate: (value: T) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off(event, listener);
        reject(new Error(`timed out waiting for ${event}`));
      }, timeoutMs);
      const listener = (value: T): void => {
        if (!predicate(value)) return;
        clearTimeout(timer);
        this.off(event, listener);
        resolve(value);
      };
      this.on(event, listener);
    });
  }

  /** Closes for good: no reconnect, jobs aborted. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    for (const job of this.running.values()) job.abort.abort();
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else socket.close(1000, 'bye');
      setTimeout(() => {
        socket.terminate();
        resolve();
      }, 1000).unref();
    });
  }
}

/** The worker endpoint: an HTTP base URL becomes its `ws(s)://…/v1/worker`; a WebSocket URL stays. */
function workerEndpoint(url: string): URL {
  const endpoint = new URL(url);
  if (endpoint.protocol === 'http:' || endpoint.protocol === 'https:') {
    endpoint.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';
    endpoint.pathname = '/v1/worker';
  }
  return endpoint;
}
