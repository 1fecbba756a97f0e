// Group commit of results: those that arrive in the same turn of the event loop are stored in one
// transaction; each caller learns its own outcome once that transaction has committed.
import type { CompleteTask, Store } from '../store/store.ts';

export class GroupCommit {
  /** This turn's changes, committed together in the next. */
  private changes: CompleteTask[] = [];
  /** What the store answers for this turn's changes, one boolean each, in order. */
  private outcome: Promise<boolean[]> | undefined;

  constructor(private readonly store: Store) {}

  /**
   * Stores the result; true when it completed the task (the lease was still the task's). The
   * callers of a turn share one promise of the batch's answers (not a promise and its resolving
   * functions each), each reading its own.
   */
  commit(change: CompleteTask): Promise<boolean> {
    // A store without batches: one transaction per result (it counts the worker's success too).
    if (!this.store.completeTasks) return this.store.completeTask(change);
    const i = this.changes.length;
    this.changes.push(change);
    if (i === 0) this.outcome = this.nextTurn();
    return this.outcome!.then((oks) => oks[i] === true);
  }

  private nextTurn(): Promise<boolean[]> {
    return new Promise<boolean[]>((resolve, reject) => {
      setImmediate(() => {
        const changes = this.changes;
        this.changes = [];
        this.store.completeTasks!(changes).then(resolve, reject);
      });
    });
  }
}
