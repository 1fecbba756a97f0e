import { type ComputeResult, decodeMessage, EVENTS, toJson } from '@flock/protocol';
import type { WebSocket } from 'ws';
import { type EventFilter, EventsHub, type TaskEvent } from '../edge/events-hub.ts';
import type { PostgresStore } from '../store/postgres-store.ts';
import type { TaskRecord, TaskState } from '../store/store.ts';
import { MAX_NOTIFY_BYTES } from './notify.ts';

/** The NOTIFY channel that carries task events between coordinators. */
export const EVENTS_CHANNEL = 'flock_events';

/** One event as it crosses to other coordinators. `p` is the payload, or absent: rebuild it. */
interface Relayed {
  topic: string;
  tenant: string;
  taskId: string;
  campaignId?: string;
  returnChannel?: string;
  state: TaskState;
  tsMs: number;
  p?: unknown;
  /** The task's trace id and the lease's span (#19). */
  c?: string;
  s?: string;
}

// Payloads that are large or costly to build are not sent; a receiver with a matching
// subscriber reads them back from the store: the envelope (requested) and the result (success).
const FROM_STORE = new Set<string>([EVENTS.requested, EVENTS.success]);
const TASK_TOPICS = 'compute:dispatch:';
const TERMINAL = new Set<TaskState>(['succeeded', 'failed', 'cancelled']);
// Room for the wrapper and the event header inside one NOTIFY.
const INLINE_LIMIT = MAX_NOTIFY_BYTES - 1024;

function matches(f: EventFilter, e: Relayed): boolean {
  if (f.tenant !== e.tenant) return false;
  if (f.taskId !== undefined && f.taskId !== e.taskId) return false;
  if (f.campaignId !== undefined && f.campaignId !== e.campaignId) return false;
  return true;
}

/**
 * An `EventsHub` that also fans task events out to the other coordinators of a cluster over
 * NOTIFY, and delivers theirs to its own `/v1/events` subscribers. Events of one turn of the
 * event loop leave together, packed into as few NOTIFYs as fit (7,999 bytes each). Relayed
 * events are delivered in the order they arrive; their payloads are rebuilt from the store only
 * when a local subscriber wants them.
 */
export class ClusterEventsHub extends EventsHub {
  private readonly filters = new Set<EventFilter>();
  private pending: string[] = [];
  private flushQueued = false;
  private inbound: Promise<void> = Promise.resolve();
  private store: PostgresStore | undefined;
  /**
   * Told of each task that another coordinator saw end (succeeded, failed, cancelled): the
   * workflows advanced here whose steps ran there advance on it (engine/workflows.ts).
   */
  onRemoteEnd: ((tenant: string, campaignId: string | undefined, taskId: string) => void) | undefined;

  constructor(
    maxBufferedBytes: number,
    readonly originId: string,
  ) {
    super(maxBufferedBytes);
  }

  /** Starts relaying through `store`'s notifier; returns the unsubscribe. */
  async attach(store: PostgresStore): Promise<() => Promise<void>> {
    this.store = store;
    return store.notifier.listen(EVENTS_CHANNEL, (text) => this.receive(text));
  }

  override subscribe(socket: WebSocket, filter: EventFilter): void {
    super.subscribe(socket, filter);
    this.filters.add(filter);
    socket.on('close', () => this.filters.delete(filter));
  }

  override publish(event: TaskEvent): void {
    super.publish(event);
    if (this.store === undefined) return;
    const relayed: Relayed = {
      topic: event.topic,
      tenant: event.tenant,
      taskId: event.taskId,
      state: event.state,
      tsMs: event.tsMs,
    };
    if (event.campaignId !== undefined) relayed.campaignId = event.campaignId;
    if (event.returnChannel !== undefined) relayed.returnChannel = event.returnChannel;
    if (event.traceId !== undefined) relayed.c = event.traceId;
    if (event.spanId !== undefined) relayed.s = event.spanId;
    let text = JSON.stringify(relayed);
    if (!FROM_STORE.has(event.topic)) {
      const withPayload = JSON.stringify({ ...relayed, p: event.payload() });
      if (Buffer.byteLength(withPayload) <= INLINE_LIMIT) text = withPayload;
    }
    this.pending.push(text);
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => void this.flush());
    }
  }

  private async flush(): Promise<void> {
    this.flushQueued = false;
    const items = this.pending;
    this.pending = [];
    const store = this.store;
    if (store === undefined) return;
    // Pack events into payloads `{"o":origin,"e":[...]}` under the NOTIFY limit.
    const head = `{"o":${JSON.stringify(this.originId)},"e":[`;
    let batch: string[] = [];
    let size = head.length + 2;
    const send = async (): Promise<void> => {
      if (batch.length === 0) return;
      const payload = `${head}${batch.join(',')}]}`;
      batch = [];
      size = head.length + 2;
      await store.notifier.notify(EVENTS_CHANNEL, payload).catch(() => undefined);
    };
    for (const item of items) {
      const bytes = Buffer.byteLength(item) + 1;
      if (size + bytes > MAX_NOTIFY_BYTES) await send();
      batch.push(item);
      size += bytes;
    }
    await send();
  }

  private receive(text: string): void {
    let message: { o: string; e: Relayed[] };
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.o === this.originId || !Array.isArray(message.e)) return;
    if (this.onRemoteEnd) {
      for (const e of message.e) {
        if (e.topic.startsWith(TASK_TOPICS) && TERMINAL.has(e.state))
          this.onRemoteEnd(e.tenant, e.campaignId, e.taskId);
      }
    }
    const wanted = message.e.filter((e) => [...this.filters].some((f) => matches(f, e)));
    if (wanted.length === 0) return;
    // One at a time, so that a payload read from the store cannot overtake the next event.
    this.inbound = this.inbound.then(() => this.deliver(wanted)).catch(() => undefined);
  }

  private async deliver(events: Relayed[]): Promise<void> {
    for (const e of events) {
      let payload: unknown = e.p;
      if (!('p' in e)) {
        const rec = await this.store?.getTask(e.tenant, e.taskId);
        payload = rec ? rebuild(e.topic, rec) : { task_id: e.taskId };
      }
      super.publish({
        topic: e.topic,
        tenant: e.tenant,
        taskId: e.taskId,
        campaignId: e.campaignId,
        returnChannel: e.returnChannel,
        state: e.state,
        tsMs: e.tsMs,
        payload: () => payload,
        relayed: true,
        traceId: e.c,
        spanId: e.s,
      });
    }
  }
}

function rebuild(topic: string, rec: TaskRecord): unknown {
  if (topic === EVENTS.success && rec.result !== undefined) {
    // The coordinator stores the result's JSON view; a bare Cap'n Proto message is read too.
    if (rec.result[0] === 0x7b) return JSON.parse(new TextDecoder().decode(rec.result));
    return toJson('ComputeResult', decodeMessage('ComputeResult', rec.result) as ComputeResult);
  }
  if (topic === EVENTS.requested) {
    // The store keeps the envelope as its JSON view.
    return JSON.parse(new TextDecoder().decode(rec.envelope));
  }
  return { task_id: rec.taskId };
}
