import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  type Capability,
  type ComputeAssignment,
  type ComputeFailure,
  type ComputeResult,
  type DataRef,
  decodeFrame,
  encodeFrame,
  type Frame_Payload,
  type Hello,
  type LeaseRenewal,
  makeFrame,
  type ResultAck,
  type Standing,
  type Welcome,
} from '@flock/protocol';
import WebSocket from 'ws';
import type { ReferenceOp } from '../trust/known-answers.ts';
import { loadReferenceOps } from '../trust/reference-ops.ts';

/** A job handed to the runner: the assignment, an abort signal (cancel, lease lost), progress. */
export interface SimJob {
  assignment: ComputeAssignment;
  signal: AbortSignal;
  progress(pct: number, metrics?: Record<string, string>): void;
}

/** What a runner returns: outputs for a result, or a failure. */
export type SimOutcome =
  | { outputs: DataRef[]; summary?: Record<string, string>; executor?: string }
  | { failure: { code: string; message: string; retryable: boolean } };

export type SimRunner = (job: SimJob) => SimOutcome | Promise<SimOutcome>;

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

function inputBytes(ref: DataRef): Uint8Array {
  if (ref.inline_bytes) return ref.inline_bytes;
  if (ref.inline_json !== undefined) return new TextEncoder().encode(ref.inline_json);
  return new Uint8Array(0);
}

/** Sums every input byte: output `sum` (JSON number), summary `{ sum, bytes }`. */
export const sumRunner: SimRunner = ({ assignment }) => {
  let sum = 0;
  let bytes = 0;
  for (const input of assignment.envelope?.inputs ?? []) {
    const data = inputBytes(input);
    bytes += data.length;
    for (const b of data) sum += b;
  }
  return {
    outputs: [{ name: 'sum', content_type: 'application/json', inline_json: String(sum) }],
    summary: { sum: String(sum), bytes: String(bytes) },
    executor: 'sim',
  };
};

/**
 * Built-in ops with a CPU reference (`@flock/shaders`: saxpy, matmul, ...) computed by that
 * reference, outputs named as the op names them; other ops (such as the tests' `sum`) by `sumRunner`.
 */
export const referenceRunner: SimRunner = async (job) => {
  const env = job.assignment.envelope ?? {};
  if (env.module?.kind !== 'builtin') return sumRunner(job);
  const op = await referenceOp(env.op ?? '');
  if (!op) return sumRunner(job);
  const inputs: Record<string, Uint8Array> = {};
  for (const input of env.inputs ?? []) inputs[input.name ?? ''] = inputBytes(input);
  const outputs = await op.prepare(inputs, env.params ?? {}).reference();
  return {
    outputs: Object.entries(outputs).map(([name, bytes]) => ({
      name,
      content_type: 'application/octet-stream',
      inline_bytes: bytes,
    })),
    executor: 'sim-reference',
  };
};

/** Built-in ops by name (null: no reference), looked up once: benchmarks run many jobs. */
const referenceOps = new Map<string, ReferenceOp | null>();

async function referenceOp(name: string): Promise<ReferenceOp | null> {
  let op = referenceOps.get(name);
  if (op === undefined) {
    const ops = await loadReferenceOps();
    try {
      op = ops.getOp(name);
    } catch {
      op = null; // not a built-in op with a reference
    }
    referenceOps.set(name, op);
  }
  return op;
}

/** Echoes the first input as output `echo` (bytes), for large-output (stream) tests. */
export const echoRunner: SimRunner = ({ assignment }) => {
  const first = assignment.envelope?.inputs?.[0];
  const data = first ? inputBytes(first) : new Uint8Array(0);
  return {
    outputs: [{ name: 'echo', content_type: 'application/octet-stream', inline_bytes: data }],
    executor: 'sim',
  };
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
  lastClose: { code: number; reason: string } | undefined;
  private socket: WebSocket | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private stalled = false;
  private stopped = false;
  private reconnectDelay = 50;

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
    const url = new URL(this.options.url);
    if (url.protocol === 'http:' || url.protocol === 'https:') {
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      url.pathname = '/v1/worker';
    }
    const socket = new WebSocket(url, this.options.origin ? { origin: this.options.origin } : {});
    socket.binaryType = 'nodebuffer';
    this.socket = socket;
    return new Promise<Welcome>((resolve, reject) => {
      let welcomed = false;
      socket.on('open', () => {
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
      });
      socket.on('message', (data: Buffer) => {
        let payload: Frame_Payload;
        try {
          payload = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), {
            maxFrameBytes: 64 << 20,
          }).payload!;
        } catch (err) {
          this.emit('decode-error', err);
          return;
        }
        if ('welcome' in payload) {
          welcomed = true;
          this.onWelcome(payload.welcome);
          resolve(payload.welcome);
          return;
        }
        this.onFrame(payload);
      });
      socket.on('close', (code: number, reason: Buffer) => {
        this.lastClose = { code, reason: reason.toString() };
        if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
        this.heartbeatTimer = undefined;
        this.emit('close', code, reason.toString());
        if (!welcomed) reject(new Error(`closed before welcome: ${code} ${reason.toString()}`));
        if (this.socket === socket && this.options.reconnect && !this.stopped) this.scheduleReconnect();
      });
      socket.on('error', (err) => {
        this.emit('socket-error', err);
      });
    });
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

  private onFrame(payload: Frame_Payload): void {
    if ('assignment' in payload) {
      const assignment = payload.assignment;
      this.assignments.push(assignment);
      this.emit('assignment', assignment);
      void this.runJob(assignment);
    } else if ('cancel' in payload) {
      const cancel = payload.cancel;
      this.emit('cancel', cancel);
      this.running.get(cancel.lease_id ?? '')?.abort.abort();
      this.running.delete(cancel.lease_id ?? '');
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

  /**
   * Inputs uploaded as blobs (`uri: "flock:sha256:<hex>"`) fetched as a tab does, from the lease's
   * input route with its task token, and inlined into a copy of the assignment for the runner.
   */
  private async fetchInputs(assignment: ComputeAssignment): Promise<ComputeAssignment> {
    const inputs = assignment.envelope?.inputs ?? [];
    if (!inputs.some((i) => i.uri?.startsWith('flock:'))) return assignment;
    const base = new URL(this.options.url);
    base.protocol = base.protocol === 'wss:' || base.protocol === 'https:' ? 'https:' : 'http:';
    const resolved = await Promise.all(
      inputs.map(async (input) => {
        if (!input.uri?.startsWith('flock:')) return input;
        const name = input.uri.slice('flock:'.length);
        const url = new URL(
          `/v1/leases/${encodeURIComponent(assignment.lease_id ?? '')}/inputs/${name}`,
          base,
        );
        const res = await fetch(url, { headers: { 'x-flock-task-token': assignment.task_token ?? '' } });
        if (!res.ok) throw new Error(`input ${name}: HTTP ${res.status}`);
        const { uri: _uri, ...rest } = input;
        return { ...rest, inline_bytes: new Uint8Array(await res.arrayBuffer()) };
      }),
    );
    return { ...assignment, envelope: { ...assignment.envelope, inputs: resolved } };
  }

  private async runJob(assignment: ComputeAssignment): Promise<void> {
    const leaseId = assignment.lease_id ?? '';
    const abort = new AbortController();
    this.running.set(leaseId, { assignment, abort });
    const startedAtMs = performance.now();
    const run = this.options.run ?? referenceRunner;
    let outcome: SimOutcome;
    try {
      assignment = await this.fetchInputs(assignment);
      outcome = await run({
        assignment,
        signal: abort.signal,
        progress: (pct, metrics) => {
          if (!abort.signal.aborted && !this.stalled) {
            this.send({
              progress: { task_id: assignment.task_id ?? '', lease_id: leaseId, pct, metrics: metrics ?? {} },
            });
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
    const base = {
      task_id: assignment.task_id ?? '',
      lease_id: leaseId,
      task_token: assignment.task_token ?? '',
      worker_id: this.workerId,
    };
    if ('failure' in outcome) {
      const failure: ComputeFailure = { ...base, ...outcome.failure };
      this.unacked.set(leaseId, { failure });
      this.send({ failure });
      return;
    }
    const lie = this.options.lie;
    const lying = typeof lie === 'function' ? lie(assignment) : lie === true;
    const outputs = lying ? outcome.outputs.map(lieAbout) : outcome.outputs;
    const result: ComputeResult = { ...base, outputs: this.streamLarge(base, outputs) };
    if (outcome.summary) result.summary = outcome.summary;
    result.executor = outcome.executor ?? 'sim';
    // Compute time as a tab reports it (credit is weighted by it); at least 1 ms.
    result.duration_ms = Math.max(1, Math.round(performance.now() - startedAtMs));
    this.unacked.set(leaseId, { result });
    this.send({ result });
  }

  /** Outputs that would not fit a frame are sent as streams first; the result points at them. */
  private streamLarge(
    base: { task_id: string; lease_id: string; task_token: string },
    outputs: DataRef[],
  ): DataRef[] {
    const limit = this.welcome?.max_frame_bytes ?? 1 << 20;
    const chunkSize = limit - 4096;
    return outputs.map((out) => {
      const bytes = out.inline_bytes;
      if (!bytes || bytes.length < limit / 2) return out;
      const streamId = `s-${randomBytes(8).toString('hex')}`;
      const hash = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      this.send({
        stream_start: {
          ...base,
          stream_id: streamId,
          name: out.name ?? '',
          content_type: out.content_type ?? '',
          total_bytes: bytes.length,
          hash,
        },
      });
      let seq = 0;
      for (let off = 0; off < bytes.length; off += chunkSize) {
        this.send({
          stream_chunk: { stream_id: streamId, seq: seq++, data: bytes.subarray(off, off + chunkSize) },
        });
      }
      this.send({
        stream_end: { stream_id: streamId, status: 'ok', chunks: seq, total_bytes: bytes.length },
      });
      const ref: DataRef = { name: out.name ?? '', uri: `stream:${streamId}`, size: bytes.length, hash };
      if (out.content_type) ref.content_type = out.content_type;
      return ref;
    });
  }

  /** Sends one frame; false when the socket is not open. */
  send(payload: Frame_Payload): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(encodeFrame(makeFrame(payload), { maxFrameBytes: 64 << 20 }));
    return true;
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

function lieAbout(out: DataRef): DataRef {
  if (out.inline_json !== undefined && /^-?\d+$/.test(out.inline_json)) {
    return { ...out, inline_json: String(Number(out.inline_json) + 1) };
  }
  if (out.inline_bytes) {
    const copy = new Uint8Array(out.inline_bytes);
    if (copy.length > 0) copy[0] = (copy[0]! + 1) & 0xff;
    // And the exponent of the first f32: a lie far outside any op's error bound.
    if (copy.length >= 4) copy[3] = copy[3]! ^ 0x40;
    return { ...out, inline_bytes: copy };
  }
  return out;
}
