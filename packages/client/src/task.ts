import { assertNever, type ComputeResult, EVENTS, type JsonObject } from '@flock/protocol';
import { isTerminal, type TaskEvent, type TaskState, type TaskView } from './api-types.ts';
import type { EventStream } from './event-stream.ts';
import { FlockError } from './flock-error.ts';

/** What a Task needs of its client (FlockClient implements it). */
export interface TaskBackend {
  getTask(taskId: string, signal?: AbortSignal): Promise<TaskView>;
  cancelTask(taskId: string): Promise<TaskView>;
  fetchResult(taskId: string, signal?: AbortSignal): Promise<ComputeResult>;
  /** Undefined when no WebSocket is available or the stream cannot be opened: poll instead. */
  tryOpenEvents(filter: { task_id?: string; campaign_id?: string }): Promise<EventStream | undefined>;
}

export interface WatchOptions {
  /**
   * How often the task is polled (ms): with a live event stream as a safety net (default 5000),
   * without one as the only source of events (default 1000).
   */
  pollMs?: number;
  signal?: AbortSignal;
  /**
   * How long (ms) the coordinator may be unreachable while a task is watched before the watch
   * gives up with `UNREACHABLE`; default 60 000. Polling goes on meanwhile.
   */
  maxOutageMs?: number;
}

export interface WaitOptions extends WatchOptions {
  /** Give up (`WAIT_TIMEOUT`) after this many ms; default: wait as long as it takes. */
  timeoutMs?: number;
}

/** A handle on one submitted task: watch it, wait for it, fetch its result, cancel it. */
export class Task {
  readonly id: string;
  #backend: TaskBackend;
  /** The last view fetched, if any. */
  view: TaskView | undefined;

  constructor(backend: TaskBackend, taskId: string, view?: TaskView) {
    this.#backend = backend;
    this.id = taskId;
    this.view = view;
  }

  /** The task's current view (`GET /v1/tasks/:id`). */
  async status(signal?: AbortSignal): Promise<TaskView> {
    this.view = await this.#backend.getTask(this.id, signal);
    return this.view;
  }

  /**
   * The task's events from now until it ends (the iterator finishes after the terminal event;
   * at once when the task has already ended). Fed by `/v1/events`; when that socket is not
   * available, or goes quiet, the task is polled and state changes are reported as the
   * matching events (`topic` from the state, `payload` from the view).
   */
  async *events(options: WatchOptions = {}): AsyncGenerator<TaskEvent, void, undefined> {
    let stream = await this.#backend.tryOpenEvents({ task_id: this.id });
    try {
      // Subscribe first, then read the state: nothing can fall between the two.
      let last = await this.status(options.signal);
      if (isTerminal(last.state)) {
        // Ended between subscribing and reading: hand over what the stream caught meanwhile.
        for (const event of stream?.drain() ?? []) if (event.task_id === this.id) yield event;
        return;
      }
      let lastState: TaskState = last.state;
      let lastPct = last.progress?.pct;
      const maxOutageMs = options.maxOutageMs ?? 60_000;
      let outageSince: number | undefined;
      for (;;) {
        throwIfAborted(options.signal);
        const pollMs = options.pollMs ?? (stream === undefined ? 1000 : 5000);
        const next =
          stream === undefined
            ? await idle(pollMs, options.signal)
            : await stream.take(pollMs, options.signal);
        if ('event' in next) {
          if (next.event.task_id !== this.id) continue;
          lastState = next.event.state;
          const pct = next.event.payload['pct'];
          if (typeof pct === 'number') lastPct = pct;
          yield next.event;
          if (isTerminal(lastState)) return;
          continue;
        }
        if ('closed' in next) stream = undefined;
        try {
          last = await this.status(options.signal);
        } catch (error) {
          // The coordinator is away (restart, network): keep polling through an outage.
          outageSince ??= Date.now();
          if (!isTransient(error) || Date.now() - outageSince > maxOutageMs) throw error;
          continue;
        }
        outageSince = undefined;
        // Back after a drop: resubscribe, so that events flow again instead of polls.
        stream ??= await this.#backend.tryOpenEvents({ task_id: this.id });
        const pct = last.progress?.pct;
        if (last.state !== lastState || (last.state === 'running' && pct !== undefined && pct !== lastPct)) {
          lastState = last.state;
          lastPct = pct;
          yield eventFromView(last);
        }
        if (isTerminal(last.state)) return;
      }
    } finally {
      stream?.close();
    }
  }

  /** Resolves with the final view once the task has ended (succeeded, failed or cancelled). */
  async wait(options: WaitOptions = {}): Promise<TaskView> {
    const signals = [
      options.signal,
      options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs),
    ];
    const signal = AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));
    try {
      for await (const _event of this.events({ ...options, signal })) {
        // Drained for the side effect: the iterator ends when the task does.
      }
      return await this.status(signal);
    } catch (error) {
      if (options.signal?.aborted !== true && signal.aborted) {
        throw new FlockError('WAIT_TIMEOUT', `task ${this.id} did not end within ${options.timeoutMs} ms`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /**
   * The task's ComputeResult (inline outputs decoded to bytes; large outputs keep their
   * `/v1/blobs/...` uri: read them with `client.outputBytes`). Waits for the task to end unless
   * `wait: false` (then `NOT_READY` while it runs). Throws `TASK_FAILED` (with `failure`) or
   * `TASK_CANCELLED` when it did not succeed, waited for or not (`view` then holds its end).
   */
  async result(options: WaitOptions & { wait?: boolean } = {}): Promise<ComputeResult> {
    if (options.wait === false) {
      try {
        return await this.#backend.fetchResult(this.id, options.signal);
      } catch (error) {
        // 409 NOT_READY answers a failed or cancelled task too: say how it ended instead.
        if (!(error instanceof FlockError) || error.code !== 'NOT_READY') throw error;
        const view = await this.status(options.signal);
        if (!isTerminal(view.state)) throw error;
        throwUnlessSucceeded(view);
        throw error;
      }
    }
    throwUnlessSucceeded(await this.wait(options));
    return this.#backend.fetchResult(this.id, options.signal);
  }

  /** Cancels the task (a running one is stopped on its worker); `ALREADY_FINISHED` if it ended. */
  async cancel(): Promise<TaskView> {
    this.view = await this.#backend.cancelTask(this.id);
    return this.view;
  }
}

/** Throws TASK_FAILED (with the failure) or TASK_CANCELLED for a task that ended without success. */
function throwUnlessSucceeded(view: TaskView): void {
  if (view.state === 'failed') {
    const failure = view.failure ?? { code: 'EXECUTION_ERROR', message: 'the task failed' };
    throw new FlockError('TASK_FAILED', `task ${view.task_id} failed: ${failure.code}: ${failure.message}`, {
      failure,
    });
  }
  if (view.state === 'cancelled')
    throw new FlockError('TASK_CANCELLED', `task ${view.task_id} was cancelled`);
}

/** The event a state change stands for, when it was seen by polling rather than on the stream. */
export function eventFromView(view: TaskView): TaskEvent {
  const payload: JsonObject = { task_id: view.task_id };
  let topic: string;
  switch (view.state) {
    case 'queued':
      topic = EVENTS.requested;
      break;
    case 'running':
      if (view.progress === undefined) {
        topic = EVENTS.accepted;
      } else {
        topic = EVENTS.progress;
        payload['pct'] = view.progress.pct;
      }
      break;
    case 'succeeded':
      topic = EVENTS.success;
      break;
    case 'failed':
      topic = EVENTS.failed;
      if (view.failure !== undefined) {
        payload['code'] = view.failure.code;
        payload['message'] = view.failure.message;
      }
      break;
    case 'cancelled':
      topic = EVENTS.cancelled;
      break;
    default:
      return assertNever(view.state);
  }
  return {
    topic,
    task_id: view.task_id,
    ...(view.campaign_id === undefined ? {} : { campaign_id: view.campaign_id }),
    ts: view.updated_at_ms,
    state: view.state,
    payload,
  };
}

function isTransient(error: unknown): boolean {
  return (
    error instanceof FlockError &&
    (error.code === 'UNREACHABLE' || error.code === 'TIMEOUT' || error.status >= 500)
  );
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new FlockError('ABORTED', 'aborted', { cause: signal.reason });
}

/** Waits `ms` (or until aborted) and reports it as a stream timeout. */
function idle(ms: number, signal: AbortSignal | undefined): Promise<{ timeout: true }> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve({ timeout: true });
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
