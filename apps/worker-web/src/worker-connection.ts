// The tab's WebSocket to the coordinator (contract A, `/v1/worker`): binary frames only, one
// Frame each from the tab; the coordinator may send several in one message (the capability's
// `batch_frames`). Reconnects with exponential backoff and full jitter, says hello (resuming the
// session) on every connection, heartbeats at the interval the welcome sets, and drops droppable
// frames (progress) while the socket's send buffer is above the high-water mark. A refusal that
// reconnecting cannot cure (src/refusal.ts) stops the reconnecting until `retry()`.
import {
  decodeFrames,
  encodeFrame,
  type Frame,
  type Frame_Payload,
  type FrameOptions,
  type Hello,
  MAX_BATCH_FRAMES,
  makeFrame,
  resolveLimits,
  type Welcome,
} from '@flock/protocol';
import { type RefusalCode, refusalOf } from './refusal.ts';

const DECODE_LIMITS = resolveLimits({ maxFrameBytes: 64 << 20, dataViews: true });

/** `refused`: the coordinator refused the tab for good (the detail is the RefusalCode). */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'refused' | 'closed';

/** Reconnect backoff: min(cap, base · 2^attempt) · random(0.5..1). */
export const BACKOFF = { baseMs: 500, capMs: 30_000 } as const;
/** Progress frames are dropped while more than this is queued on the socket. */
export const HIGH_WATER_BYTES = 1 << 20;

export interface ConnectionHandlers {
  /** Builds the hello for a new connection (capability, session, in-flight, undelivered). */
  hello(): Promise<Hello>;
  welcome(welcome: Welcome): void;
  frame(payload: Frame_Payload): void;
  /** Lease ids to renew in the next heartbeat. */
  leases(): string[];
  state(state: ConnectionState, detail: string): void;
}

/** The volunteer connection; `start()` connects and keeps reconnecting until `stop()`. */
export class WorkerConnection {
  private socket: WebSocket | undefined;
  private attempt = 0;
  private stopped = true;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private seq = 0;
  /** Each lease's trace and metadata from its assignment, echoed on that lease's frames (#19). */
  private readonly traces = new Map<string, FrameOptions>();
  /** The lease of each open output stream (its chunks name only the stream). */
  private readonly streamLeases = new Map<string, string>();
  welcome: Welcome | undefined;
  /** Why the coordinator refused the tab for good; undefined while it may connect. */
  refusal: RefusalCode | undefined;

  constructor(
    private readonly url: string,
    private readonly handlers: ConnectionHandlers,
  ) {}

  get open(): boolean {
    return this.socket?.readyState === WebSocket.OPEN && this.welcome !== undefined;
  }

  /** Largest frame the coordinator accepts (from the welcome). */
  get maxFrameBytes(): number {
    return this.welcome?.max_frame_bytes || 1 << 20;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Connects again after a refusal (the person fixed, or asked to recheck, its cause). */
  retry(): void {
    if (this.stopped || this.refusal === undefined) return;
    this.refusal = undefined;
    this.attempt = 0;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.refusal = undefined;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeatTimer);
    this.socket?.close(1000, 'volunteer stopped');
    this.socket = undefined;
    this.welcome = undefined;
    this.handlers.state('closed', 'stopped');
  }

  /** Drops the socket as a network failure would (tests); the tab reconnects. */
  drop(): void {
    this.socket?.close(4000, 'dropped');
  }

  /**
   * Sends one frame. Returns false when the session is not open (no welcome yet), or when `droppable` and the send
   * buffer is over the high-water mark (backpressure: progress can be skipped, results cannot).
   */
  send(payload: Frame_Payload, droppable = false): boolean {
    const socket = this.socket;
    // Nothing but the hello goes out before the welcome: the coordinator closes on anything else.
    if (!socket || socket.readyState !== WebSocket.OPEN || !this.welcome) return false;
    if (droppable && socket.bufferedAmount > HIGH_WATER_BYTES) return false;
    socket.send(encodeFrame(makeFrame(payload, this.echo(payload)), { maxFrameBytes: this.maxFrameBytes }));
    return true;
  }

  /** The trace and metadata a frame of a lease echoes: those its assignment came with. */
  private echo(payload: Frame_Payload): FrameOptions | undefined {
    if (this.traces.size === 0) return undefined;
    let leaseId: string | undefined;
    if ('result' in payload) leaseId = payload.result.lease_id;
    else if ('progress' in payload) leaseId = payload.progress.lease_id;
    else if ('failure' in payload) leaseId = payload.failure.lease_id;
    else if ('cancel_ack' in payload) leaseId = payload.cancel_ack.lease_id;
    else if ('stream_start' in payload) {
      leaseId = payload.stream_start.lease_id;
      this.streamLeases.set(payload.stream_start.stream_id ?? '', leaseId ?? '');
    } else if ('stream_chunk' in payload)
      leaseId = this.streamLeases.get(payload.stream_chunk.stream_id ?? '');
    else if ('stream_end' in payload) {
      leaseId = this.streamLeases.get(payload.stream_end.stream_id ?? '');
      this.streamLeases.delete(payload.stream_end.stream_id ?? '');
    }
    const echo = leaseId === undefined ? undefined : this.traces.get(leaseId);
    if ('cancel_ack' in payload && leaseId !== undefined) this.traces.delete(leaseId);
    return echo;
  }

  /** Keeps an assignment's trace and metadata until its result is acknowledged. */
  private remember(frame: Frame, payload: Frame_Payload): void {
    if ('assignment' in payload && (frame.trace || frame.metadata)) {
      const echo: FrameOptions = {};
      if (frame.trace) echo.trace = frame.trace;
      if (frame.metadata) echo.metadata = frame.metadata;
      this.traces.set(payload.assignment.lease_id ?? '', echo);
    } else if ('result_ack' in payload) this.traces.delete(payload.result_ack.lease_id ?? '');
  }

  private connect(): void {
    this.handlers.state(this.attempt === 0 ? 'connecting' : 'reconnecting', this.url);
    const socket = new WebSocket(this.url);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.onopen = async () => {
      const hello = await this.handlers.hello();
      if (this.socket === socket && socket.readyState === WebSocket.OPEN) {
        socket.send(encodeFrame(makeFrame({ hello }), { maxFrameBytes: this.maxFrameBytes }));
      }
    };
    socket.onmessage = (event) => {
      if (!(event.data instanceof ArrayBuffer)) return;
      let frames: Frame[];
      try {
        // Decoded in place: an input's bytes stay in this message's own buffer until they are copied,
        // once, into their executor's arena. The hello says the tab takes batched frames.
        frames = decodeFrames(new Uint8Array(event.data), DECODE_LIMITS, MAX_BATCH_FRAMES);
      } catch (error) {
        console.warn('flock: undecodable frame from the coordinator', error);
        return;
      }
      for (const frame of frames) this.onFrame(frame);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      clearInterval(this.heartbeatTimer);
      this.welcome = undefined;
      if (this.stopped) return;
      const refusal = refusalOf(event.code, event.reason);
      if (refusal !== undefined) {
        this.refusal = refusal;
        this.socket = undefined;
        this.handlers.state('refused', refusal);
        return;
      }
      const delay = Math.min(BACKOFF.capMs, BACKOFF.baseMs * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt++;
      this.handlers.state('reconnecting', `closed ${event.code}${event.reason ? ` ${event.reason}` : ''}`);
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    };
  }

  private onFrame(frame: Frame): void {
    const payload = frame.payload;
    if (!payload) return;
    this.remember(frame, payload);
    if ('welcome' in payload) {
      this.attempt = 0;
      this.welcome = payload.welcome;
      this.startHeartbeats(payload.welcome.heartbeat_ms || 10_000);
      this.handlers.state('open', payload.welcome.worker_id ?? '');
      this.handlers.welcome(payload.welcome);
      return;
    }
    this.handlers.frame(payload);
  }

  private startHeartbeats(intervalMs: number): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      this.send({ heartbeat: { seq: ++this.seq, lease_ids: this.handlers.leases() } });
    }, intervalMs);
  }
}
