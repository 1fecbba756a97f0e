// The worker thread that owns the SQLite connection when FLOCK_SQLITE_THREAD is on
// (sqlite-thread-store.ts is the coordinator's side). It runs the calls it is sent on a
// `SqliteStore`, in the order they were made, and answers each after its group commit: the
// answers of one turn go back in one message, so nothing is acknowledged before it is durable.
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from './sqlite-store.ts';
import type { StoreAnswer, StoreCall, StoreScope, ThreadOptions } from './sqlite-thread-store.ts';

const port = parentPort;
if (!port) throw new Error('sqlite-thread.ts runs as a worker thread');

const options = workerData as ThreadOptions;
const store = new SqliteStore(options.dataDir, options.sync === undefined ? {} : { sync: options.sync });
const scopes: Record<StoreScope, object> = {
  store,
  trust: store.trustStore(),
  workflows: store.workflowStore(),
  keys: store.keyStore(),
  audit: store.auditStore(),
  webhooks: store.webhookStore(),
};

let answers: StoreAnswer[] = [];

/** Sends the answers settled so far; a setImmediate after the group commit's, so one message a commit. */
function flush(): void {
  const batch = answers;
  answers = [];
  port?.postMessage(batch);
}

function answer(reply: StoreAnswer): void {
  if (answers.length === 0) setImmediate(flush);
  answers.push(reply);
}

function run(call: StoreCall): void {
  const target = scopes[call.scope] as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const method = target[call.method];
  let result: Promise<unknown>;
  try {
    if (typeof method !== 'function') throw new Error(`the store has no method ${call.scope}.${call.method}`);
    result = method.apply(target, call.args);
  } catch (err) {
    result = Promise.reject(err);
  }
  result.then(
    (value) => answer({ id: call.id, value }),
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      const { code, field } = e as Error & { code?: unknown; field?: unknown };
      answer({
        id: call.id,
        error: {
          name: e.name,
          message: e.message,
          code: typeof code === 'string' ? code : undefined,
          field: typeof field === 'string' ? field : undefined,
        },
      });
    },
  );
}

port.on('message', (calls: StoreCall[]) => {
  for (const call of calls) run(call);
});
