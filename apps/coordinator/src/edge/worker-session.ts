// One volunteer connection: its frames checked (size, rate, budget, order) and handled in order,
// what it sends back corked into one write per turn, and everything it holds (hello timer, open
// streams, the engine's worker) released when it closes.
import type { Socket } from 'node:net';
import {
  type DecodeLimits,
  decodeFramePayload,
  encodeFrame,
  encodeFrameView,
  type Frame_Payload,
  type FrameOptions,
  type Heartbeat,
  type Hello,
  MAX_BATCH_FRAMES,
  makeFrame,
  payloadKind,
  type ResultAck,
  resolveLimits,
  splitFrames,
} from '@flock/protocol';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { CoordinatorConfig } from '../config.ts';
import type { Coordinator, WorkerLink, WorkerState } from '../engine/coordinator.ts';
import { storeUnavailable } from '../store/store-unavailable.ts';
import { ConnectionBudget } from './connection-budget.ts';
import { frameWork } from './frame-bounds.ts';
import { type ParkedOutcome, ParkedOutcomes } from './parked-outcomes.ts';
import { StreamReceiver } from './stream-receiver.ts';
import { Violation } from './worker-violation.ts';

/** Frames queued for processing on one connection before it counts as flooding. */
const MAX_PENDING_FRAMES = 4096;
/** A connection must say hello within this time. */
const HELLO_TIMEOUT_MS = 10_000;
/** How often results that found the store unreachable are stored again, at most, ms. */
const PARKED_RETRY_MS = 1000;
/** An outbox's first size: an ack and an assignment fit, and it comes from Node's buffer pool. */
const OUTBOX_BYTES = 2048;
const NO_BYTES = new Uint8Array(0);

export class WorkerSession {
  readonly link: WorkerLink;
  private worker: WorkerState | undefined;
  /** Frames of one connection are handled in order (results are stored before the next frame). */
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private closed = false;
  private corked = false;
  /**
   * This turn's frames for a volunteer that takes several a message (`batch_frames` > 1), laid end
   * to end as they are encoded: one buffer a message (not a copy of each frame, then the joined
   * message); a fresh one each message, since the socket may still hold the last one.
   */
  private outbox: Uint8Array = NO_BYTES;
  private outboxBytes = 0;
  private outboxFrames = 0;
  private readonly streams: StreamReceiver;
  private readonly rate: { tokens: number; at: number };
  private readonly budget: ConnectionBudget;
  private helloTimer: NodeJS.Timeout | undefined;
  /** The frame limits, resolved once (not an object per frame for the codec to copy). */
  private limits: DecodeLimits | undefined;
  /** Results and failures waiting for the store (made at the first). */
  private parked: ParkedOutcomes | undefined;

  constructor(
    private readonly socket: WebSocket,
    private readonly coordinator: Coordinator,
    private readonly config: CoordinatorConfig,
    private readonly log: Logger,
    userAgent?: string,
  ) {
    this.link = {
      send: (payload, frame) => this.send(payload, frame),
      bufferedAmount: () => socket.bufferedAmount + this.outboxBytes,
      close: (code, reason) => socket.close(code, reason),
      userAgent,
    };
    this.streams = new StreamReceiver(coordinator, config);
    this.rate = { tokens: config.workerFramesPerSecond * 2, at: Date.now() };
    this.budget = new ConnectionBudget(config.workerBytesPerSecond, config.workerFramesPerSecond * 4);
  }

  /** Serves the socket; a page of an Origin that is not allowed is refused at once. */
  start(originAllowed: boolean, origin: string | undefined): void {
    if (!originAllowed) {
      this.violate(Violation.of('ORIGIN_NOT_ALLOWED', `origin ${origin} is not allowed`));
      return;
    }
    this.helloTimer = setTimeout(
      () => this.violate(Violation.of('HELLO_TIMEOUT', 'no hello received')),
      HELLO_TIMEOUT_MS,
    );
    this.socket.on('message', (data: RawData, isBinary: boolean) => this.onMessage(toBytes(data), isBinary));
    this.socket.on('close', () => this.onClose());
  }

  /**
   * Frames sent in one turn of the event loop leave in one write: an ack and the assignment that
   * the freed slot gets right after it share a system call.
   */
  private send(payload: Frame_Payload, frame?: FrameOptions): boolean {
    const socket = this.socket;
    if (socket.readyState !== socket.OPEN) return false;
    const batch = this.batchFrames();
    // The limit tabs are told: an assignment the submit checks let through always fits. A frame
    // to batch is the encoder's own bytes (valid until the next encode), copied into the outbox.
    const message = makeFrame(payload, frame);
    const limits = this.frameLimits();
    const bytes = batch > 1 ? encodeFrameView(message, limits) : encodeFrame(message, limits);
    const wire = this.coordinator.metrics.wire;
    wire.framesOut += 1;
    wire.bytesOut += bytes.length;
    if (
      batch > 1 &&
      (this.outboxFrames >= batch || this.outboxBytes + bytes.length > this.config.maxFrameBytes)
    )
      this.flushOutbox();
    if (!this.corked) {
      this.corked = true;
      (socket as unknown as { _socket: Socket })._socket.cork();
      // A cork an ack opens is undone two turns on, not one: a result's ack is sent as its commit
      // settles, the freed slot's dispatch pass runs in the next turn and its lease commit in the
      // one after, so the ack and the assignment that follows it share one write (one system
      // call, one wake-up). One an assignment opens is a dispatch pass's, which sends all its
      // assignments in one job: undone as soon as that job is done.
      if ('assignment' in payload) queueMicrotask(this.uncork);
      else setImmediate(this.uncorkNextTurn);
    }
    if (batch > 1) this.queue(bytes);
    else socket.send(bytes);
    return true;
  }

  /** Copies a frame to the end of this turn's message. */
  private queue(bytes: Uint8Array): void {
    const end = this.outboxBytes + bytes.length;
    if (end > this.outbox.length) {
      // Small ones come from Node's buffer pool (no allocation of their own).
      const grown = Buffer.allocUnsafe(Math.max(end, 2 * this.outbox.length, OUTBOX_BYTES));
      grown.set(this.outbox.subarray(0, this.outboxBytes));
      this.outbox = grown;
    }
    this.outbox.set(bytes, this.outboxBytes);
    this.outboxBytes = end;
    this.outboxFrames += 1;
  }

  // Methods made once: a cork made two closures every turn a volunteer was sent something.
  private readonly uncorkNextTurn = (): void => {
    setImmediate(this.uncork);
  };

  private readonly uncork = (): void => {
    this.corked = false;
    this.flushOutbox();
    (this.socket as unknown as { _socket: Socket })._socket.uncork();
  };

  /** Frames one message may carry to this volunteer: 1 unless its capability says more. */
  private batchFrames(): number {
    const n = this.worker?.capability.batch_frames ?? 0;
    return Math.min(n, MAX_BATCH_FRAMES);
  }

  /** This turn's frames as one message (within the frame limit and the volunteer's count). */
  private flushOutbox(): void {
    const frames = this.outboxFrames;
    if (frames === 0) return;
    const message = this.outbox.subarray(0, this.outboxBytes);
    this.outbox = NO_BYTES;
    this.outboxBytes = 0;
    this.outboxFrames = 0;
    if (this.socket.readyState !== this.socket.OPEN) return;
    if (frames === 1 || this.batchFrames() > 1) {
      if (frames > 1) this.coordinator.metrics.wire.batchesOut += 1;
      this.socket.send(message);
    } else {
      // It has just stopped taking batches: the frames one a message.
      for (const bytes of splitFrames(message, this.frameLimits(), frames)) this.socket.send(bytes);
    }
  }

  private frameLimits(): DecodeLimits {
    const maxFrameBytes = this.config.maxFrameBytes;
    if (this.limits?.maxFrameBytes !== maxFrameBytes) this.limits = resolveLimits({ maxFrameBytes });
    return this.limits;
  }

  private violate(v: Violation): void {
    this.coordinator.metrics.errors.inc({ code: v.code });
    this.log.debug({ code: v.code, message: v.message }, 'worker protocol violation');
    if (this.socket.readyState === this.socket.OPEN) {
      this.send({ error: { code: v.code, message: v.message } });
      this.flushOutbox();
      this.socket.close(v.closeCode, v.code);
    }
  }

  private onMessage(bytes: Uint8Array, isBinary: boolean): void {
    if (this.closed) return;
    const wire = this.coordinator.metrics.wire;
    wire.framesIn += 1;
    wire.bytesIn += bytes.length;
    if (!isBinary) {
      this.violate(Violation.of('TEXT_FRAME', 'frames must be binary'));
      return;
    }
    if (bytes.length > this.config.maxFrameBytes) {
      const limit = this.config.maxFrameBytes;
      this.violate(Violation.of('FRAME_TOO_LARGE', `frame of ${bytes.length} bytes exceeds ${limit}`));
      return;
    }
    // Several frames a message only from a volunteer that said it sends them (after its hello).
    let frames: Uint8Array[] | undefined;
    const batch = this.batchFrames();
    if (batch > 1) {
      try {
        frames = splitFrames(bytes, this.frameLimits(), batch);
      } catch (err) {
        this.violate(Violation.from(err) ?? Violation.of('INTERNAL', 'internal error'));
        return;
      }
      if (frames.length > 1) wire.batchesIn += 1;
    }
    const n = frames?.length ?? 1;
    wire.framesIn += n - 1;
    const now = Date.now();
    const perSecond = this.config.workerFramesPerSecond;
    this.rate.tokens = Math.min(perSecond * 2, this.rate.tokens + ((now - this.rate.at) * perSecond) / 1000);
    this.rate.at = now;
    if (this.rate.tokens < n || this.pending + n > MAX_PENDING_FRAMES) {
      this.violate(Violation.of('RATE_LIMITED', 'too many frames'));
      return;
    }
    this.rate.tokens -= n;
    this.pending += n;
    this.chain = this.chain.then(() => this.handleMessage(bytes, frames, n));
  }

  /**
   * One message's frames, after those before it; a failure is the connection's violation. One
   * async function a message (a `.then().catch().finally()` chain made six promises and closures).
   */
  private async handleMessage(bytes: Uint8Array, frames: Uint8Array[] | undefined, n: number): Promise<void> {
    try {
      if (this.closed) return;
      // The payload alone is decoded (the header is checked but not built): the engine reads
      // nothing else of a volunteer's frame.
      if (frames) await this.handleBatch(frames);
      else await this.handleFrame(bytes, decodeFramePayload(bytes, this.frameLimits()));
    } catch (err) {
      this.failed(err);
    } finally {
      this.pending -= n;
    }
  }

  /**
   * A frame's handling failed: the volunteer's violation, the store out of reach (close 1013: the
   * tab comes back and resends what was not acked), or the coordinator's own error.
   */
  private failed(err: unknown): void {
    const v = Violation.from(err);
    if (v) this.violate(v);
    else if (storeUnavailable(err)) {
      this.log.warn({ err }, 'worker frame: the store cannot be reached');
      this.violate(Violation.of('STORE_UNAVAILABLE', 'the store cannot be reached; reconnect and try again'));
    } else {
      this.log.error({ err }, 'worker frame failed');
      this.violate(Violation.of('INTERNAL', 'internal error'));
    }
  }

  private async handleFrame(bytes: Uint8Array, payload: Frame_Payload): Promise<void> {
    // Charged before the frame is acted on: frames are handled in order, so an overdrawn
    // connection's frames all wait.
    const waitMs = this.budget.spend(bytes.length, 1 + frameWork(payload, this.config.maxSlotsPerWorker));
    if (waitMs > 0) {
      await this.throttled(waitMs);
      if (this.closed) return;
    }
    if (this.worker) {
      const handled = this.handleFrom(this.worker, payload);
      if (!handled) return;
      try {
        await handled;
      } catch (err) {
        // A result or failure the store could not take now is stored later (parked-outcomes.ts).
        const outcome = storeUnavailable(err) ? outcomeOf(payload) : undefined;
        if (!outcome) throw err;
        this.parking(this.worker).park(outcome);
      }
      return;
    }
    if (!('hello' in payload))
      throw Violation.of('HELLO_REQUIRED', `expected hello, got ${payloadKind(payload)}`);
    await this.hello(payload.hello);
  }

  /**
   * A message of several frames, in order; a run of results and failures for distinct leases is
   * handled at once (their commits share a group commit), each acked on its own.
   */
  private async handleBatch(frames: Uint8Array[]): Promise<void> {
    // All decoded before any is acted on: a malformed batch is refused whole, like a frame.
    const decoded = new Array<Frame_Payload>(frames.length);
    for (let i = 0; i < frames.length; i++) decoded[i] = decodeFramePayload(frames[i]!, this.frameLimits());
    // The run's frames being handled: `run[runFrom..i)`, sized once (a push onto [] makes 17).
    const run = new Array<Promise<void> | undefined>(frames.length);
    let runFrom = 0;
    for (let i = 0; i < frames.length; i++) {
      if (this.closed) break;
      const payload = decoded[i]!;
      const lease = this.worker ? leaseOf(payload) : undefined;
      if (lease === undefined || namesLease(decoded, runFrom, i, lease)) {
        await settled(run, runFrom, i);
        runFrom = i;
      }
      if (lease === undefined) {
        await this.handleFrame(frames[i]!, payload);
        runFrom = i + 1;
      } else run[i] = this.handleFrame(frames[i]!, payload);
    }
    await settled(run, runFrom, frames.length);
  }

  /** An overdrawn connection is not read, and its next frame not handled, for `ms`. */
  private async throttled(ms: number): Promise<void> {
    this.coordinator.metrics.errors.inc({ code: 'THROTTLED' });
    this.socket.pause();
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (!this.closed) this.socket.resume();
  }

  private async hello(hello: Hello): Promise<void> {
    if (hello.protocol_version !== 1) {
      throw Violation.of('UNSUPPORTED_VERSION', `protocol_version ${hello.protocol_version} is not 1`);
    }
    clearTimeout(this.helloTimer);
    const out = await this.coordinator.hello(this.link, hello);
    this.worker = out.worker;
    if (this.closed) {
      this.coordinator.disconnected(out.worker, this.link);
      return;
    }
    this.send({ welcome: out.welcome });
    for (const ack of out.acks) this.send({ result_ack: ack });
    for (const cancel of out.cancels) this.send({ cancel });
    this.coordinator.ready(out.worker);
  }

  /**
   * A frame after the hello; a promise when it is handled asynchronously. A plain function, and
   * the ack sent by a method made once: results, the frames sent most, take no async function or
   * closure of their own here.
   */
  private handleFrom(w: WorkerState, payload: Frame_Payload): Promise<void> | undefined {
    const c = this.coordinator;
    w.lastSeenMs = Date.now();
    if ('result' in payload) return c.handleResult(w, payload.result).then(this.sendAck);
    if ('failure' in payload) return c.handleFailure(w, payload.failure).then(this.sendAck);
    if ('capability' in payload) c.capability(w, payload.capability);
    else if ('heartbeat' in payload) return this.heartbeat(w, payload.heartbeat);
    else if ('progress' in payload) return c.progress(w, payload.progress);
    else if ('cancel_ack' in payload) c.cancelAck(w, payload.cancel_ack.lease_id ?? '');
    else if ('stream_start' in payload) this.streams.start(w, payload.stream_start);
    else if ('stream_chunk' in payload) this.streams.chunk(payload.stream_chunk);
    else if ('stream_end' in payload) this.streams.end(w, payload.stream_end);
    else if ('hello' in payload) throw Violation.of('DUPLICATE_HELLO', 'hello was already received');
    else throw Violation.of('UNEXPECTED_FRAME', `a worker may not send ${payloadKind(payload)}`);
    return undefined;
  }

  private readonly sendAck = (ack: ResultAck): void => {
    this.send({ result_ack: ack });
  };

  /** This connection's parked outcomes, made at the first. */
  private parking(w: WorkerState): ParkedOutcomes {
    const c = this.coordinator;
    this.parked ??= new ParkedOutcomes(
      {
        handle: (o) => ('result' in o ? c.handleResult(w, o.result) : c.handleFailure(w, o.failure)),
        renew: (leaseIds) => void c.heartbeat(w, leaseIds),
        ack: this.sendAck,
        failed: (err) => this.failed(err),
      },
      Math.min(PARKED_RETRY_MS, this.config.heartbeatMs),
    );
    return this.parked;
  }

  private async heartbeat(w: WorkerState, hb: Heartbeat): Promise<void> {
    const leases = this.coordinator.heartbeat(w, hb.lease_ids ?? []);
    this.send({
      heartbeat_ack: { seq: hb.seq ?? 0, leases, standing: await this.coordinator.standingOf(w) },
    });
  }

  private onClose(): void {
    this.closed = true;
    clearTimeout(this.helloTimer);
    this.parked?.close();
    this.streams.abortAll();
    if (this.worker) this.coordinator.disconnected(this.worker, this.link);
    // A hello still being handled: its worker is told of the close once it exists.
    else void this.chain.then(() => this.worker && this.coordinator.disconnected(this.worker, this.link));
  }
}

/** A result or failure frame's outcome; undefined for any other frame. */
function outcomeOf(payload: Frame_Payload): ParkedOutcome | undefined {
  if ('result' in payload) return { result: payload.result };
  if ('failure' in payload) return { failure: payload.failure };
  return undefined;
}

/** The lease a result or failure names ('' for none); undefined for any other frame. */
function leaseOf(payload: Frame_Payload): string | undefined {
  const outcome = 'result' in payload ? payload.result : 'failure' in payload ? payload.failure : undefined;
  return outcome ? (outcome.lease_id ?? '') : undefined;
}

/** Whether a result or failure among `payloads[from..to)` names `lease` (a run holds at most 64). */
function namesLease(payloads: Frame_Payload[], from: number, to: number, lease: string): boolean {
  for (let k = from; k < to; k++) if (leaseOf(payloads[k]!) === lease) return true;
  return false;
}

/** The frames `run[from..to)` handled (a run of one without Promise.all). */
function settled(run: (Promise<void> | undefined)[], from: number, to: number): Promise<unknown> | undefined {
  if (to - from < 2) return to > from ? run[from] : undefined;
  return Promise.all(from === 0 && to === run.length ? run : run.slice(from, to));
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
