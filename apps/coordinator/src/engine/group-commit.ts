// Group commit of results: those that arrive in the same turn of the event loop are stored in one
// transaction; each caller learns its own outcome once that transaction has committed.
import type { CompleteTask, Store } from '../store/store.ts';

interface Pending {
  change: CompleteTask;
  resolve: (ok: boolean) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit {
  private readonly pending: Pending[] = [];

  constructor(private readonly store: Store) {}

  /** Stores the result; true when it completed the task (the lease was still the task's). */
  commit(change: CompleteTask): Promise<boolean> {
    const batch = this.store.completeTasks?.bind(this.store);
    // A store without batches: one transaction per result (it counts the worker's success too).
    if (!batch) return this.store.completeTask(change);
    return new Promise<boolean>((resolve, reject) => {
      this.pending.push({ change, resolve, reject });
      if (this.pending.length > 1) return;
      setImmediate(() => {
        const items = this.pending.splice(0);
        batch(items.map((p) => p.change)).then(
          (oks) => {
            for (let i = 0; i < items.length; i++) items[i]!.resolve(oks[i] === true);
          },
          (err: unknown) => {
            for (const p of items) p.reject(err);
          },
        );
      });
    });
  }
}
