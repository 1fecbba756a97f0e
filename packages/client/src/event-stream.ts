import type { TaskEvent } from './api-types.ts';
import { FlockError } from './flock-error.ts';

/**
 * What the SDK needs of a WebSocket: the browser's `WebSocket` and the `ws` package's both fit.
 * Text frames must arrive as strings (both do that for text frames).
 */
export interface SocketLike {
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'error', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => SocketLike;

/** What `take` hands back: an event, a timeout with nothing queued, or the end of the stream. */
export type Take = { event: TaskEvent } | { timeout: true } | { closed: { code: number; reason: string } };

/**
 * A subscription to `/v1/events`: frames are queued as they arrive and read with `take` or
 * `for await`. The stream ends when the socket closes; frames that are not JSON objects are
 * skipped (the server only sends objects; a proxy page is not an event).
 */
export class EventStream implements AsyncIterable<TaskEvent> {
  readonly #socket: SocketLike;
  readonly #queue: TaskEvent[] = [];
  #waiter: (() => void) | undefined;
  #closed: { code: number; reason: string } | undefined;

  private constructor(socket: SocketLike) {
    this.#socket = socket;
    socket.addEventListener('message', (event) => {
      if (typeof event.data !== 'string') return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(event.data);
      } catch {
        return;
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return;
      this.#queue.push(fromBusEnvelope(parsed as Record<string, unknown>));
      this.#wake();
    });
    socket.addEventListener('close', (event) => {
      this.#closed = { code: event.code, reason: event.reason };
      this.#wake();
    });
  }

  /** Opens the socket; rejects with `UNREACHABLE` when it closes or fails before opening. */
  static open(url: string, WebSocketImpl: WebSocketConstructor, timeoutMs = 10_000): Promise<EventStream> {
    return new Promise((resolve, reject) => {
      let socket: SocketLike;
      try {
        socket = new WebSocketImpl(url);
      } catch (cause) {
        reject(new FlockError('UNREACHABLE', `cannot open ${redactKey(url)}`, { cause }));
        return;
      }
      const stream = new EventStream(socket);
      let settled = false;
      const timer = setTimeout(() => {
        fail(new FlockError('TIMEOUT', `no WebSocket handshake within ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (error: FlockError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.close();
        reject(error);
      };
      socket.addEventListener('open', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(stream);
      });
      socket.addEventListener('error', () => {
        fail(new FlockError('UNREACHABLE', `cannot open the event stream ${redactKey(url)}`));
      });
      socket.addEventListener('close', (event) => {
        fail(new FlockError('UNREACHABLE', `event stream closed during handshake (${event.code})`));
      });
    });
  }

  get closed(): { code: number; reason: string } | undefined {
    return this.#closed;
  }

  /**
   * The next event; waits at most `timeoutMs` (forever when undefined). An abort of `signal`
   * ends the wait early and reads as a timeout: the caller checks its signal.
   */
  async take(timeoutMs?: number, signal?: AbortSignal): Promise<Take> {
    for (;;) {
      const event = this.#queue.shift();
      if (event !== undefined) return { event };
      if (this.#closed !== undefined) return { closed: this.#closed };
      if (signal?.aborted === true) return { timeout: true };
      const timedOut = await new Promise<boolean>((resolve) => {
        const finish = (timeout: boolean): void => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.#waiter = undefined;
          resolve(timeout);
        };
        const onAbort = (): void => finish(true);
        const timer = timeoutMs === undefined ? undefined : setTimeout(() => finish(true), timeoutMs);
        signal?.addEventListener('abort', onAbort, { once: true });
        this.#waiter = () => finish(false);
      });
      if (timedOut) return { timeout: true };
    }
  }

  /** The events already received and not yet read, without waiting. */
  drain(): TaskEvent[] {
    return this.#queue.splice(0);
  }

  close(): void {
    this.#socket.close(1000, 'done');
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TaskEvent> {
    try {
      for (;;) {
        const next = await this.take();
        if (!('event' in next)) return;
        yield next.event;
      }
    } finally {
      this.close();
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}

const TASK_SCHEMAS = new Set(['flock.task.event.v1', 'flock.workflow.event.v1']);

/**
 * A message of `/v1/events` as a TaskEvent: a bus envelope of a task or workflow has its
 * `payload.{task_id, campaign_id, state, event}` lifted out and `payload.data` as the payload;
 * other bus envelopes (notices, capabilities) keep their payload; a flat message of
 * `?format=legacy` is taken as it is.
 */
export function fromBusEnvelope(message: Record<string, unknown>): TaskEvent {
  if (message.type !== 'event' || typeof message.schema !== 'string') return message as unknown as TaskEvent;
  const payload = message.payload as Record<string, unknown> | undefined;
  const out: Record<string, unknown> = { topic: message.topic };
  if (TASK_SCHEMAS.has(message.schema) && payload !== null && typeof payload === 'object') {
    out.task_id = payload.task_id;
    if (payload.campaign_id !== undefined) out.campaign_id = payload.campaign_id;
    out.ts = message.ts;
    out.state = payload.state;
    out.payload = payload.data;
    if (payload.event !== undefined) out.event = payload.event;
  } else {
    out.ts = message.ts;
    out.payload = payload;
  }
  out.id = message.id;
  out.schema = message.schema;
  if (message.trace !== undefined) out.trace = message.trace;
  return out as unknown as TaskEvent;
}

/** The api key rides in the query string for browsers; never echo it in an error message. */
function redactKey(url: string): string {
  return url.replace(/([?&]key=)[^&]*/, '$1***');
}
