import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import {
  capabilityEntries,
  checkCapability,
  decodeFrame,
  encodeFrame,
  type Frame_Payload,
  makeFrame,
  ProtocolError,
  payloadKind,
  type StreamChunk,
  type StreamEnd,
  type StreamStart,
} from '@flock/protocol';
import type { Logger } from 'pino';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { CoordinatorConfig } from '../config.ts';
import type { Coordinator, StoredStream, WorkerLink, WorkerState } from '../engine/coordinator.ts';
import type { BlobWriter } from '../store/blob-store.ts';
import { AddressCounter, AddressRate } from './address-limits.ts';
import type { TrustedProxies } from './client-address.ts';
import { ConnectionBudget } from './connection-budget.ts';
import type { UpgradeDecision, WebSocketEndpoint } from './upgrade-router.ts';

/** WebSocket close codes of Contract A, 10. */
export const CLOSE = { policy: 1008, protocol: 1002, tooBig: 1009 } as const;

/** Streams one connection may have open at once. */
const MAX_OPEN_STREAMS = 4;
/** Frames queued for processing on one connection before it counts as flooding. */
const MAX_PENDING_FRAMES = 4096;
/** A connection must say hello within this time. */
const HELLO_TIMEOUT_MS = 10_000;

interface OpenStream {
  start: StreamStart;
  leaseId: string;
  writer: BlobWriter | undefined;
  nextSeq: number;
  bytes: number;
  error: string | undefined;
}

class Violation extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly closeCode: number,
  ) {
    super(message);
  }
}

/**
 * `/v1/worker`: one binary Cap'n Proto Frame per WebSocket message (Contract A). Checks Origin,
 * frame size, rate and protocol order; a violation sends `error { code, message }` and closes
 * that connection only (1009 too large, 1002 malformed/unexpected, 1008 policy). What a connection
 * costs is bounded by what it holds: lists in its frames by its slots, its bytes and work by
 * budgets (past them it is not read for a while), and connections and hellos per address.
 */
export class WorkerHub implements WebSocketEndpoint {
  readonly wss: WebSocketServer;
  /** Lease ids a frame may list: what a worker can hold (its slots), twice over for stale ones. */
  readonly maxLeaseList: number;
  private readonly sockets: AddressCounter;
  private readonly hellos: AddressRate;

  constructor(
    private readonly coordinator: Coordinator,
    private readonly config: CoordinatorConfig,
    private readonly log: Logger,
    private readonly proxies: TrustedProxies,
  ) {
    this.maxLeaseList = config.maxSlotsPerWorker * 2;
    this.sockets = new AddressCounter(config.maxConnectionsPerAddress);
    this.hellos = new AddressRate(config.hellosPerMinute);
    // ws itself drops anything over twice the limit; between the two, we answer with an error frame.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.maxFrameBytes * 2,
      perMessageDeflate: false,
    });
  }

  /** Connections per client address and hellos (one per connection) per minute are capped. */
  admit(req: IncomingMessage): UpgradeDecision {
    const address = this.proxies.clientAddress(req);
    if (!this.hellos.take(address)) {
      this.coordinator.metrics.errors.inc({ code: 'RATE_LIMITED' });
      return {
        accept: false,
        status: 429,
        code: 'RATE_LIMITED',
        message: `more than ${this.config.hellosPerMinute} volunteer connections a minute from this address`,
        headers: { 'Retry-After': String(Math.max(1, this.hellos.retryAfterS(address))) },
      };
    }
    if (!this.sockets.acquire(address)) {
      this.coordinator.metrics.errors.inc({ code: 'TOO_MANY_CONNECTIONS' });
      return {
        accept: false,
        status: 429,
        code: 'TOO_MANY_CONNECTIONS',
        message: `${this.config.maxConnectionsPerAddress} volunteer connections are open from this address`,
        headers: { 'Retry-After': '10' },
      };
    }
    return {
      accept: true,
      onOpen: (socket) => {
        socket.once('close', () => this.sockets.release(address));
        this.accept(socket, req);
      },
    };
  }

  /** Whether the Origin header is allowed: absent (not a browser), same host, or listed. */
  originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    const host = req.headers.host;
    if (host && (origin === `http://${host}` || origin === `https://${host}`)) return true;
    return this.config.allowedOrigins.includes(origin);
  }

  private accept(socket: WebSocket, req: IncomingMessage): void {
    const metrics = this.coordinator.metrics;
    const wire = metrics.wire;
    // Frames sent in one turn of the event loop leave in one write: an ack and the assignment
    // that the freed slot gets right after it share a system call.
    const tcp = (socket as unknown as { _socket: Socket })._socket;
    let corked = false;
    const send = (payload: Frame_Payload): boolean => {
      if (socket.readyState !== socket.OPEN) return false;
      // The limit tabs are told: an assignment the submit checks let through always fits.
      const bytes = encodeFrame(makeFrame(payload, { id: frameId() }), {
        maxFrameBytes: this.config.maxFrameBytes,
      });
      wire.framesOut += 1;
      wire.bytesOut += bytes.length;
      if (!corked) {
        corked = true;
        tcp.cork();
        setImmediate(() => {
          corked = false;
          tcp.uncork();
        });
      }
      socket.send(bytes);
      return true;
    };
    const link: WorkerLink = {
      send,
      bufferedAmount: () => socket.bufferedAmount,
      close: (code, reason) => socket.close(code, reason),
    };
    const violate = (v: Violation): void => {
      metrics.errors.inc({ code: v.code });
      this.log.debug({ code: v.code, message: v.message }, 'worker protocol violation');
      if (socket.readyState === socket.OPEN) {
        send({ error: { code: v.code, message: v.message } });
        socket.close(v.closeCode, v.code);
      }
    };
    if (!this.originAllowed(req)) {
      violate(
        new Violation('ORIGIN_NOT_ALLOWED', `origin ${req.headers.origin} is not allowed`, CLOSE.policy),
      );
      return;
    }

    let worker: WorkerState | undefined;
    let chain: Promise<void> = Promise.resolve();
    let pending = 0;
    let closed = false;
    const streams = new Map<string, OpenStream>();
    const rate = { tokens: this.config.workerFramesPerSecond * 2, at: Date.now() };
    const helloTimer = setTimeout(
      () => violate(new Violation('HELLO_TIMEOUT', 'no hello received', CLOSE.policy)),
      HELLO_TIMEOUT_MS,
    );
    const budget = new ConnectionBudget(
      this.config.workerBytesPerSecond,
      this.config.workerFramesPerSecond * 4,
    );
    /** An overdrawn connection is not read, and its next frame not handled, for `ms`. */
    const throttled = async (ms: number): Promise<void> => {
      metrics.errors.inc({ code: 'THROTTLED' });
      socket.pause();
      await new Promise((resolve) => setTimeout(resolve, ms));
      if (!closed) socket.resume();
    };

    const handle = async (bytes: Uint8Array): Promise<void> => {
      const frame = decodeFrame(bytes, { maxFrameBytes: this.config.maxFrameBytes });
      const payload = frame.payload!;
      const kind = payloadKind(payload);
      // Charged before the frame is acted on: frames are handled in order, so an overdrawn
      // connection's frames all wait.
      const waitMs = budget.spend(bytes.length, 1 + this.checkBounds(payload));
      if (waitMs > 0) {
        await throttled(waitMs);
        if (closed) return;
      }
      if (!worker) {
        if (!('hello' in payload))
          throw new Violation('HELLO_REQUIRED', `expected hello, got ${kind}`, CLOSE.protocol);
        const hello = payload.hello;
        if (hello.protocol_version !== 1) {
          throw new Violation(
            'UNSUPPORTED_VERSION',
            `protocol_version ${hello.protocol_version} is not 1`,
            CLOSE.protocol,
          );
        }
        clearTimeout(helloTimer);
        const out = await this.coordinator.hello(link, hello);
        worker = out.worker;
        if (closed) {
          this.coordinator.disconnected(worker, link);
          return;
        }
        send({ welcome: out.welcome });
        for (const ack of out.acks) send({ result_ack: ack });
        for (const cancel of out.cancels) send({ cancel });
        this.coordinator.ready(worker);
        return;
      }
      const w = worker;
      w.lastSeenMs = Date.now();
      if ('capability' in payload) this.coordinator.capability(w, payload.capability);
      else if ('heartbeat' in payload) {
        const hb = payload.heartbeat;
        const leases = this.coordinator.heartbeat(w, hb.lease_ids ?? []);
        send({ heartbeat_ack: { seq: hb.seq ?? 0, leases, standing: await this.coordinator.standingOf(w) } });
      } else if ('progress' in payload) await this.coordinator.progress(w, payload.progress);
      else if ('result' in payload)
        send({ result_ack: await this.coordinator.handleResult(w, payload.result) });
      else if ('failure' in payload)
        send({ result_ack: await this.coordinator.handleFailure(w, payload.failure) });
      else if ('cancel_ack' in payload) this.coordinator.cancelAck(w, payload.cancel_ack.lease_id ?? '');
      else if ('stream_start' in payload) this.streamStart(w, streams, payload.stream_start);
      else if ('stream_chunk' in payload) this.streamChunk(streams, payload.stream_chunk);
      else if ('stream_end' in payload) this.streamEnd(w, streams, payload.stream_end);
      else if ('hello' in payload)
        throw new Violation('DUPLICATE_HELLO', 'hello was already received', CLOSE.protocol);
      else throw new Violation('UNEXPECTED_FRAME', `a worker may not send ${kind}`, CLOSE.protocol);
    };

    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (closed) return;
      const bytes = toBytes(data);
      wire.framesIn += 1;
      wire.bytesIn += bytes.length;
      if (!isBinary) return violate(new Violation('TEXT_FRAME', 'frames must be binary', CLOSE.protocol));
      if (bytes.length > this.config.maxFrameBytes) {
        return violate(
          new Violation(
            'FRAME_TOO_LARGE',
            `frame of ${bytes.length} bytes exceeds ${this.config.maxFrameBytes}`,
            CLOSE.tooBig,
          ),
        );
      }
      const now = Date.now();
      const perSecond = this.config.workerFramesPerSecond;
      rate.tokens = Math.min(perSecond * 2, rate.tokens + ((now - rate.at) * perSecond) / 1000);
      rate.at = now;
      if (rate.tokens < 1 || pending >= MAX_PENDING_FRAMES) {
        return violate(new Violation('RATE_LIMITED', 'too many frames', CLOSE.policy));
      }
      rate.tokens -= 1;
      pending += 1;
      // Frames of one connection are handled in order (results are stored before the next frame).
      chain = chain
        .then(() => (closed ? undefined : handle(bytes)))
        .catch((err: unknown) => {
          if (err instanceof Violation) violate(err);
          else if (err instanceof ProtocolError) {
            const tooBig = err.code === 'FRAME_TOO_LARGE';
            violate(new Violation(err.code, err.message, tooBig ? CLOSE.tooBig : CLOSE.protocol));
          } else {
            this.log.error({ err }, 'worker frame failed');
            violate(new Violation('INTERNAL', 'internal error', 1011));
          }
        })
        .finally(() => {
          pending -= 1;
        });
    });
    socket.on('close', () => {
      closed = true;
      clearTimeout(helloTimer);
      for (const s of streams.values()) s.writer?.abort();
      streams.clear();
      if (worker) this.coordinator.disconnected(worker, link);
      else void chain.then(() => worker && this.coordinator.disconnected(worker, link));
    });
  }

  /**
   * Checks the lists a frame carries against what the worker can legitimately hold (its leases,
   * the capability bounds); returns the entries it makes the coordinator process (work units).
   */
  private checkBounds(payload: Frame_Payload): number {
    const leaseList = (n: number, what: string): number => {
      if (n > this.maxLeaseList) {
        throw new Violation(
          'LIST_TOO_LONG',
          `${what} lists ${n} leases; a worker holds at most ${this.config.maxSlotsPerWorker}`,
          CLOSE.policy,
        );
      }
      return n;
    };
    const capability = (cap: Parameters<typeof checkCapability>[0] | undefined): number => {
      if (!cap) return 0;
      try {
        checkCapability(cap);
      } catch (err) {
        if (err instanceof ProtocolError) {
          throw new Violation(err.code, `capability ${err.field}: ${err.message}`, CLOSE.policy);
        }
        throw err;
      }
      return capabilityEntries(cap);
    };
    if ('heartbeat' in payload) return leaseList(payload.heartbeat.lease_ids?.length ?? 0, 'heartbeat');
    if ('capability' in payload) return capability(payload.capability);
    if ('hello' in payload) {
      const hello = payload.hello;
      return (
        leaseList(hello.in_flight?.length ?? 0, 'hello.in_flight') +
        leaseList(hello.undelivered?.length ?? 0, 'hello.undelivered') +
        capability(hello.capability)
      );
    }
    if ('result' in payload) return payload.result.outputs?.length ?? 0;
    return 0;
  }

  private streamStart(worker: WorkerState, streams: Map<string, OpenStream>, start: StreamStart): void {
    const id = start.stream_id ?? '';
    if (!id || streams.has(id) || worker.streams.has(id)) {
      throw new Violation('STREAM_INVALID', `stream id "${id}" is empty or already used`, CLOSE.protocol);
    }
    if (streams.size >= MAX_OPEN_STREAMS)
      throw new Violation('TOO_MANY_STREAMS', 'too many open streams', CLOSE.policy);
    const total = start.total_bytes ?? 0;
    if (total > this.config.maxStreamBytes) {
      throw new Violation(
        'STREAM_TOO_LARGE',
        `stream of ${total} bytes exceeds ${this.config.maxStreamBytes}`,
        CLOSE.tooBig,
      );
    }
    const leaseId = start.lease_id ?? '';
    const refused = this.coordinator.checkLease(worker, leaseId, start.task_id, start.task_token);
    streams.set(id, {
      start,
      leaseId,
      // A refused stream is read and dropped; its result is refused with the same code.
      writer: refused ? undefined : this.coordinator.blobs.writer(),
      nextSeq: 0,
      bytes: 0,
      error: refused,
    });
  }

  private streamChunk(streams: Map<string, OpenStream>, chunk: StreamChunk): void {
    const stream = streams.get(chunk.stream_id ?? '');
    if (!stream) throw new Violation('STREAM_UNKNOWN', `no open stream "${chunk.stream_id}"`, CLOSE.protocol);
    if ((chunk.seq ?? 0) !== stream.nextSeq) {
      throw new Violation(
        'STREAM_OUT_OF_ORDER',
        `chunk ${chunk.seq}, expected ${stream.nextSeq}`,
        CLOSE.protocol,
      );
    }
    stream.nextSeq += 1;
    const data = chunk.data ?? new Uint8Array(0);
    stream.bytes += data.length;
    const declared = stream.start.total_bytes ?? 0;
    if (stream.bytes > declared || stream.bytes > this.config.maxStreamBytes) {
      stream.writer?.abort();
      throw new Violation('STREAM_TOO_LARGE', `stream exceeds its declared ${declared} bytes`, CLOSE.tooBig);
    }
    stream.writer?.write(data);
  }

  private streamEnd(worker: WorkerState, streams: Map<string, OpenStream>, end: StreamEnd): void {
    const id = end.stream_id ?? '';
    const stream = streams.get(id);
    if (!stream) throw new Violation('STREAM_UNKNOWN', `no open stream "${id}"`, CLOSE.protocol);
    streams.delete(id);
    const stored: StoredStream = {
      leaseId: stream.leaseId,
      hex: undefined,
      size: stream.bytes,
      name: stream.start.name ?? '',
      contentType: stream.start.content_type ?? '',
      error: stream.error,
    };
    const writer = stream.writer;
    if (!writer || stored.error) {
      writer?.abort();
    } else if (end.status === 'aborted') {
      writer.abort();
      stored.error = 'STREAM_UNKNOWN';
    } else {
      const hex = writer.finish();
      const declaredHash = stream.start.hash ?? '';
      const ok =
        stream.bytes === (stream.start.total_bytes ?? 0) &&
        (end.chunks ?? 0) === stream.nextSeq &&
        (end.total_bytes ?? 0) === stream.bytes &&
        (declaredHash === '' || declaredHash === `sha256:${hex}`);
      if (ok) {
        writer.commit(hex);
        stored.hex = hex;
      } else {
        writer.abort();
        stored.error = 'HASH_MISMATCH';
      }
    }
    worker.streams.set(id, stored);
  }

  close(): void {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }
}

/** Random bytes drawn in bulk: a frame id costs a slice, not a system call. */
let pool = randomBytes(0);
let poolOffset = 0;

/** A UUID v4 for a frame id. */
export function frameId(): string {
  if (poolOffset + 16 > pool.length) {
    pool = randomBytes(16 * 1024);
    poolOffset = 0;
  }
  const b = pool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
