import { type FlockClient, isFlockError, isTerminal, type TaskEvent, type TaskView } from '@flock/client';

export type ConnectionState = 'connecting' | 'live' | 'lost';

/** Tasks the list keeps in memory (the newest). */
const MAX_TASKS = 5000;

/**
 * The tenant's tasks as the dashboard shows them, kept current by `/v1/events`: each event
 * updates its task's state and progress in place; a task seen for the first time is fetched.
 * When the socket drops it reconnects with backoff and re-reads the list to catch up.
 */
export class LiveTasks {
  readonly #client: FlockClient;
  readonly #tasks = new Map<string, TaskView>();
  readonly #listeners = new Set<(changed: TaskView | undefined) => void>();
  readonly #connectionListeners = new Set<(state: ConnectionState) => void>();
  readonly #eventListeners = new Set<(event: TaskEvent) => void>();
  /**
   * State changes seen, numbered: the number of each task's last one, to drop fetched views that a
   * change seen after the fetch began overtook.
   */
  #changeSeq = 0;
  readonly #lastChange = new Map<string, number>();
  /** A `refreshQueued` is under way (the next one waits for it to end). */
  #refreshingQueued = false;
  #connection: ConnectionState = 'connecting';
  #stopped = false;
  #close: (() => void) | undefined;
  #wake: (() => void) | undefined;

  constructor(client: FlockClient) {
    this.#client = client;
  }

  get connection(): ConnectionState {
    return this.#connection;
  }

  /** Newest first. */
  list(): TaskView[] {
    return [...this.#tasks.values()].sort((a, b) => b.created_at_ms - a.created_at_ms);
  }

  get(taskId: string): TaskView | undefined {
    return this.#tasks.get(taskId);
  }

  /** `changed` is the one task that changed, or undefined when the whole list was reloaded. */
  subscribe(listener: (changed: TaskView | undefined) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onConnection(listener: (state: ConnectionState) => void): () => void {
    this.#connectionListeners.add(listener);
    listener(this.#connection);
    return () => this.#connectionListeners.delete(listener);
  }

  onEvent(listener: (event: TaskEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  upsert(view: TaskView): void {
    this.#tasks.set(view.task_id, view);
    for (const listener of this.#listeners) listener(view);
  }

  /** Re-reads the list: every task, oldest first, keeping the newest `MAX_TASKS`. */
  async reload(): Promise<void> {
    const all: TaskView[] = [];
    for await (const view of this.#client.iterateTasks({ limit: 1000 })) all.push(view);
    this.#tasks.clear();
    for (const view of all.slice(-MAX_TASKS)) this.#tasks.set(view.task_id, view);
    for (const listener of this.#listeners) listener(undefined);
  }

  /** Runs until `stop`: connect, apply events, reconnect after a drop (1 s doubling to 10 s). */
  async start(onAuthError: (error: unknown) => void): Promise<void> {
    let delayMs = 1000;
    while (!this.#stopped) {
      this.#setConnection('connecting');
      try {
        const stream = await this.#client.events();
        this.#close = () => stream.close();
        this.#setConnection('live');
        delayMs = 1000;
        await this.reload();
        for await (const event of stream) this.#apply(event);
      } catch (error) {
        if (isFlockError(error) && error.code === 'UNAUTHENTICATED') {
          onAuthError(error);
          return;
        }
      }
      // A refused WebSocket handshake looks like any other drop: ask whether the key still works.
      const refused = await this.#client.checkKey().then(
        () => undefined,
        (error: unknown) => (isFlockError(error) && error.code === 'UNAUTHENTICATED' ? error : undefined),
      );
      if (refused !== undefined && !this.#stopped) {
        onAuthError(refused);
        return;
      }
      if (this.#stopped) return;
      this.#setConnection('lost');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      delayMs = Math.min(delayMs * 2, 10_000);
    }
  }

  /** Retry now instead of waiting out the backoff. */
  reconnectNow(): void {
    this.#wake?.();
  }

  stop(): void {
    this.#stopped = true;
    this.#close?.();
    this.#wake?.();
  }

  #apply(event: TaskEvent): void {
    for (const listener of this.#eventListeners) listener(event);
    // Worker-wide events (capabilities) carry no task.
    if (typeof event.task_id !== 'string' || event.task_id === '') return;
    const known = this.#tasks.get(event.task_id);
    if (known === undefined) {
      this.refresh(event.task_id);
      return;
    }
    const pct = event.payload['pct'];
    const next: TaskView = { ...known, state: event.state, updated_at_ms: Date.now() };
    if (typeof pct === 'number') next.progress = { ...known.progress, pct };
    this.upsert(next);
    // The event carries the state; timings, attempts and failure come with the full view.
    if (event.state !== known.state) {
      this.#lastChange.set(event.task_id, ++this.#changeSeq);
      this.refresh(event.task_id);
    }
  }

  /** Whether a state change of `taskId` was seen after the change numbered `seq`. */
  #overtaken(taskId: string, seq: number): boolean {
    return (this.#lastChange.get(taskId) ?? 0) > seq;
  }

  /**
   * Fetches a task's full view (for what changes without an event: its waiting reason, its
   * verification). A view that a later state change overtook is dropped (that change fetches its
   * own), so a slow answer never shows a state the task has left; a failed read is dropped too.
   */
  refresh(taskId: string): void {
    const seq = this.#changeSeq;
    this.#client
      .getTask(taskId)
      .then((view) => {
        if (this.#overtaken(taskId, seq)) return;
        const current = this.#tasks.get(taskId);
        if (current !== undefined && isTerminal(current.state) && !isTerminal(view.state)) return;
        this.upsert(view);
      })
      .catch(() => undefined);
  }

  /**
   * Re-reads the waiting reason of every queued task the list holds, in one listing of the queued
   * tasks: it changes with no event (a volunteer comes or leaves, a breaker opens). Tasks whose
   * state changed meanwhile keep what their change fetched; listeners hear once, as for a reload,
   * and only when a reason changed. A call while one is under way, or a failed read, does nothing.
   */
  async refreshQueued(): Promise<void> {
    if (this.#refreshingQueued) return;
    this.#refreshingQueued = true;
    const seq = this.#changeSeq;
    let changed = false;
    try {
      let read = 0;
      for await (const view of this.#client.iterateTasks({ state: 'queued', limit: 1000 })) {
        const known = this.#tasks.get(view.task_id);
        const stale =
          known?.state === 'queued' &&
          known.waiting_reason !== view.waiting_reason &&
          !this.#overtaken(view.task_id, seq);
        if (stale) {
          this.#tasks.set(view.task_id, view);
          changed = true;
        }
        if (++read >= MAX_TASKS) break;
      }
    } catch {
      // The next call reads again; the connection banner says when the coordinator is away.
    } finally {
      this.#refreshingQueued = false;
    }
    if (changed) for (const listener of this.#listeners) listener(undefined);
  }

  #setConnection(state: ConnectionState): void {
    this.#connection = state;
    for (const listener of this.#connectionListeners) listener(state);
  }
}
