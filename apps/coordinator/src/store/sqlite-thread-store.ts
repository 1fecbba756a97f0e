// The SQLite store on a worker thread of its own (FLOCK_SQLITE_THREAD): the thread owns the
// connection (sqlite-thread.ts) and the coordinator's event loop keeps only the cost of sending
// calls and reading answers. It moves CPU rather than removing it: the statements, the commits and
// their WAL writes run beside the event loop, which pays where a core is free.
//
// Semantics are the in-process store's: calls run in the order they were made, writes are
// answered after their group commit, reads wait for it. Calls made in one turn of the event loop
// go to the thread in one message, and the thread answers a commit's calls in one message.
import { Worker } from 'node:worker_threads';
import type { SqliteSync } from '../config.ts';
import { CoordinatorError, type CoordinatorErrorCode } from '../errors.ts';
import type { Store } from './store.ts';

/** The sub-stores a `Store` hands out, by the name the thread knows them by. */
export type StoreScope = 'store' | 'trust' | 'workflows' | 'keys' | 'audit' | 'webhooks';

export interface StoreCall {
  id: number;
  scope: StoreScope;
  method: string;
  args: unknown[];
}

export type StoreAnswer =
  | { id: number; value: unknown }
  | {
      id: number;
      error: { name: string; message: string; code: string | undefined; field: string | undefined };
    };

export interface ThreadOptions {
  dataDir: string;
  sync: SqliteSync | undefined;
}

/** `Store` accessors and the scope each one's object is called under. */
const ACCESSORS: Record<string, StoreScope> = {
  trustStore: 'trust',
  workflowStore: 'workflows',
  keyStore: 'keys',
  auditStore: 'audit',
  webhookStore: 'webhooks',
};

/**
 * The thread runs under tsx (the coordinator's TypeScript loader), registered inside it; Node's
 * own loader reads better-sqlite3.
 */
function bootstrap(): string {
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./sqlite-thread.ts', import.meta.url).href;
  return `import(${JSON.stringify(tsx)})
    .then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** The link to the thread: numbered calls out, answers in, and a failure that ends every call. */
class ThreadLink {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private outbox: StoreCall[] = [];
  private nextId = 1;
  private failure: Error | undefined;
  private closed = false;

  constructor(options: ThreadOptions) {
    this.worker = new Worker(bootstrap(), { eval: true, workerData: options });
    this.worker.on('message', (answers: StoreAnswer[]) => this.settle(answers));
    this.worker.on('error', (err) => this.fail(new Error(`the SQLite thread failed: ${err.message}`)));
    this.worker.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`the SQLite thread exited (code ${code})`));
    });
  }

  call(scope: StoreScope, method: string, args: unknown[]): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    if (this.outbox.length === 0) queueMicrotask(this.flush);
    this.outbox.push({ id, scope, method, args });
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  /** Closes the store on the thread and stops it; a thread that failed is only stopped. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.failure) await this.call('store', 'close', []);
    } finally {
      this.closed = true;
      await this.worker.terminate();
      this.fail(new Error('the store is closed'));
    }
  }

  private readonly flush = (): void => {
    const calls = this.outbox;
    this.outbox = [];
    this.worker.postMessage(calls);
  };

  private settle(answers: StoreAnswer[]): void {
    for (const answer of answers) {
      const pending = this.pending.get(answer.id);
      if (!pending) continue;
      this.pending.delete(answer.id);
      if ('error' in answer) pending.reject(rebuild(answer.error));
      else pending.resolve(answer.value);
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const pending of this.pending.values()) pending.reject(this.failure);
    this.pending.clear();
  }
}

/** An error from the thread as the in-process store would have thrown it (name, code, field kept). */
function rebuild(error: Extract<StoreAnswer, { error: unknown }>['error']): Error {
  if (error.name === 'CoordinatorError' && error.code !== undefined) {
    return new CoordinatorError(error.code as CoordinatorErrorCode, error.message, error.field);
  }
  return Object.assign(new Error(error.message), { name: error.name, code: error.code });
}

/** An object whose every method is a call under `scope` (never thenable: `then` is absent). */
function remote<T extends object>(link: ThreadLink, scope: StoreScope, own: Record<string, unknown> = {}): T {
  return new Proxy(own, {
    get(target, name) {
      if (typeof name !== 'string' || name === 'then') return undefined;
      if (name in target) return target[name];
      const method = (...args: unknown[]) => link.call(scope, name, args);
      target[name] = method;
      return method;
    },
  }) as T;
}

/**
 * Opens `<dataDir>/flock.db` on a worker thread of its own. Errors of opening (a locked or
 * unreadable file) surface at the first call, which `startCoordinator` makes with `migrate()`.
 */
export function openSqliteThreadStore(dataDir: string, options: { sync?: SqliteSync } = {}): Store {
  const link = new ThreadLink({ dataDir, sync: options.sync });
  const own: Record<string, unknown> = {
    close: () => link.close(),
    // Asked for in passing (Store.flush): nothing waits for it, and a failure shows in the writes.
    flush: () => void link.call('store', 'flush', []).catch(() => undefined),
  };
  for (const [accessor, scope] of Object.entries(ACCESSORS)) {
    const sub = remote<object>(link, scope);
    own[accessor] = () => sub;
  }
  return remote<Store>(link, 'store', own);
}
