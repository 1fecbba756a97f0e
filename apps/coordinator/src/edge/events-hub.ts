import type { WebSocket } from 'ws';
import type { TaskState } from '../store/store.ts';
import { type EventFormat, plainMessage, transitionMessage } from './event-messages.ts';

/** One task transition, as `/v1/events` subscribers receive it (the payload is built lazily). */
export interface TaskEvent {
  topic: string;
  tenant: string;
  taskId: string;
  campaignId: string | undefined;
  returnChannel: string | undefined;
  state: TaskState;
  tsMs: number;
  /** The JSON view of the payload; only computed when someone listens. */
  payload: () => unknown;
  /** Relayed from another coordinator of a cluster (that one posts its webhooks). */
  relayed?: boolean | undefined;
  /** The task's trace id (its envelope's `correlation_id`; #19). */
  traceId?: string | undefined;
  /** The lease's span, for an event of one lease. */
  spanId?: string | undefined;
}

export interface EventFilter {
  tenant: string;
  /** An operator's subscription: also receives worker events (capabilities), which no tenant owns. */
  admin?: boolean | undefined;
  taskId?: string | undefined;
  campaignId?: string | undefined;
  /** Receive only terminal events of tasks whose `return_channel` is this. */
  channel?: string | undefined;
  /** Bus envelopes (default) or, for one release, the flat messages before them. */
  format?: EventFormat | undefined;
}

interface Subscriber {
  socket: WebSocket;
  filter: EventFilter;
}

const TERMINAL = new Set<TaskState>(['succeeded', 'failed', 'cancelled']);

/** One worker's events reach subscribers at most this often (the latest one wins), ms. */
export const WORKER_EVENT_INTERVAL_MS = 1000;
/** A worker event larger than this is not relayed (its capability is bounded far below it). */
export const MAX_WORKER_EVENT_BYTES = 64 << 10;

interface WorkerEvents {
  /** When the worker's last event went out (epoch ms). */
  sentAtMs: number;
  /** The latest event held back until the interval ends. */
  held: { topic: string; payload: () => unknown } | undefined;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Fans task events out to `/v1/events` subscribers, each filtered by tenant (always), task,
 * campaign, or return channel. A subscriber that cannot keep up (send buffer over the limit) is
 * closed with 1013 rather than buffering without bound.
 */
export class EventsHub {
  private readonly subscribers = new Set<Subscriber>();
  private readonly workerEvents = new Map<string, WorkerEvents>();

  /**
   * Told of each terminal event of a task with a return channel published here, not relayed ones,
   * with the text channel subscribers get (edge/webhooks.ts posts those whose channel is a URL).
   */
  onTerminal: ((event: TaskEvent, message: () => string) => void) | undefined;

  constructor(private readonly maxBufferedBytes: number) {}

  /**
   * Whether an event of a task entering `state` would reach anyone: a subscriber (of any tenant), the
   * webhooks (terminal events of a task with a return channel), or a `publish` of a subclass (the
   * cluster relay, a recorder) or a spy, which is handed every event: what it does with one is its
   * own. The engine builds no event, and no payload closure, otherwise: most tasks run with nobody
   * listening.
   */
  wants(state: TaskState, returnChannel: string | undefined): boolean {
    if (this.subscribers.size > 0 || this.publish !== EventsHub.prototype.publish) return true;
    return this.onTerminal !== undefined && returnChannel !== undefined && TERMINAL.has(state);
  }

  get size(): number {
    return this.subscribers.size;
  }

  subscribe(socket: WebSocket, filter: EventFilter): void {
    const sub = { socket, filter };
    this.subscribers.add(sub);
    socket.on('close', () => this.subscribers.delete(sub));
  }

  publish(event: TaskEvent): void {
    if (this.onTerminal && event.returnChannel !== undefined && !event.relayed && TERMINAL.has(event.state))
      this.onTerminal(event, () => this.channelMessage(event));
    if (this.subscribers.size === 0) return;
    // Each shape is written once however many receive it: [bus, legacy] × [plain, channel].
    const texts: (string | undefined)[] = [];
    let data: unknown;
    let built = false;
    for (const sub of this.subscribers) {
      const f = sub.filter;
      if (f.tenant !== event.tenant) continue;
      if (f.taskId !== undefined && f.taskId !== event.taskId) continue;
      if (f.campaignId !== undefined && f.campaignId !== event.campaignId) continue;
      const channel = f.channel;
      if (channel !== undefined && (event.returnChannel !== channel || !TERMINAL.has(event.state))) continue;
      const slot = (f.format === 'legacy' ? 1 : 0) + (channel === undefined ? 0 : 2);
      if (!built) {
        data = event.payload();
        built = true;
      }
      texts[slot] ??= transitionMessage(event, data, f.format ?? 'bus', channel);
      const out = texts[slot]!;
      if (sub.socket.readyState !== sub.socket.OPEN) continue;
      if (sub.socket.bufferedAmount > this.maxBufferedBytes) {
        sub.socket.close(1013, 'slow consumer');
        this.subscribers.delete(sub);
        continue;
      }
      sub.socket.send(out);
    }
  }

  /**
   * A worker's event (its capability): to admin subscribers without a task, campaign or channel
   * filter only, since volunteers belong to no tenant. At most one per worker per
   * WORKER_EVENT_INTERVAL_MS: a faster sender's latest event goes out when the interval ends.
   */
  publishWorker(workerId: string, topic: string, payload: () => unknown, nowMs = Date.now()): void {
    let entry = this.workerEvents.get(workerId);
    if (!entry) {
      entry = { sentAtMs: 0, held: undefined, timer: undefined };
      this.workerEvents.set(workerId, entry);
    }
    const wait = entry.sentAtMs + WORKER_EVENT_INTERVAL_MS - nowMs;
    if (wait <= 0 && !entry.timer) {
      entry.sentAtMs = nowMs;
      this.sendWorkerEvent(topic, payload);
      return;
    }
    entry.held = { topic, payload };
    if (entry.timer) return;
    const held = entry;
    held.timer = setTimeout(() => {
      held.timer = undefined;
      const next = held.held;
      held.held = undefined;
      held.sentAtMs = Date.now();
      if (next) this.sendWorkerEvent(next.topic, next.payload);
    }, wait);
    held.timer.unref();
  }

  /**
   * A notice of the coordinator's own (engine/notices.ts): to operators (admin subscribers) and,
   * when it concerns a tenant, to that tenant's subscribers, in both cases only those without a
   * task, campaign or channel filter.
   */
  publishNotice(notice: { topic: string; tenant?: string; payload: unknown }, nowMs = Date.now()): void {
    const texts: (string | undefined)[] = [];
    for (const sub of this.subscribers) {
      const f = sub.filter;
      if (f.taskId !== undefined || f.campaignId !== undefined || f.channel !== undefined) continue;
      if (!f.admin && (notice.tenant === undefined || f.tenant !== notice.tenant)) continue;
      if (sub.socket.readyState !== sub.socket.OPEN) continue;
      if (sub.socket.bufferedAmount > this.maxBufferedBytes) {
        sub.socket.close(1013, 'slow consumer');
        this.subscribers.delete(sub);
        continue;
      }
      const format = f.format ?? 'bus';
      const slot = format === 'legacy' ? 1 : 0;
      texts[slot] ??= plainMessage('notice', notice.topic, nowMs, notice.payload, format);
      sub.socket.send(texts[slot]!);
    }
  }

  /** The worker is gone: nothing of it is held back any more. */
  forgetWorker(workerId: string): void {
    const entry = this.workerEvents.get(workerId);
    if (entry?.timer) clearTimeout(entry.timer);
    this.workerEvents.delete(workerId);
  }

  private sendWorkerEvent(topic: string, payload: () => unknown): void {
    const texts: (string | undefined)[] = [];
    let body: unknown;
    const nowMs = Date.now();
    for (const sub of this.subscribers) {
      const f = sub.filter;
      if (!f.admin || f.taskId !== undefined || f.campaignId !== undefined || f.channel !== undefined)
        continue;
      if (sub.socket.readyState !== sub.socket.OPEN) continue;
      const format = f.format ?? 'bus';
      const slot = format === 'legacy' ? 1 : 0;
      if (texts[slot] === undefined) {
        body ??= payload();
        texts[slot] = plainMessage('worker', topic, nowMs, body, format);
      }
      const text = texts[slot]!;
      if (text.length > MAX_WORKER_EVENT_BYTES) return;
      if (sub.socket.bufferedAmount > this.maxBufferedBytes) {
        sub.socket.close(1013, 'slow consumer');
        this.subscribers.delete(sub);
        continue;
      }
      sub.socket.send(text);
    }
  }

  /** What `/v1/events?channel=<return_channel>` subscribers receive for `event` (webhooks post the same). */
  channelMessage(event: TaskEvent): string {
    return transitionMessage(event, event.payload(), 'bus', event.returnChannel);
  }

  closeAll(): void {
    for (const sub of this.subscribers) sub.socket.close(1001, 'coordinator shutting down');
    this.subscribers.clear();
    for (const entry of this.workerEvents.values()) if (entry.timer) clearTimeout(entry.timer);
    this.workerEvents.clear();
  }
}
