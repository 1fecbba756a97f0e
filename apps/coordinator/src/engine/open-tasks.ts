// The queued and running tasks a coordinator holds in memory, with an estimate of the memory they
// take, so that a backlog is refused (QUEUE_FULL) before it exhausts the heap.
import type { OpenTask } from './open-task.ts';

/**
 * What an open task takes in memory besides its envelope's bytes: measured 0.91–0.93 KB for the
 * bench's task (an op, one 16-byte input, a 240-byte envelope; 1.1 KB before the shared module and
 * requirements, shared-parts.ts) with `bench/coordinator/queued-memory.ts` (open task, scheduler
 * entry, parsed envelope, maps): with the envelope's bytes, a margin for larger ones.
 */
export const OPEN_TASK_BYTES = 1024;

/**
 * The open tasks by uid (a Map: the engine reads it everywhere) that also keeps the sum of
 * their estimates (`bytes`): `OPEN_TASK_BYTES` plus the stored envelope's size (its inline inputs
 * and params are held parsed). Every way into or out of the map updates it.
 */
export class OpenTasks extends Map<number, OpenTask> {
  private total = 0;

  /** The estimated bytes of the tasks held now. */
  get bytes(): number {
    return this.total;
  }

  override set(uid: number, task: OpenTask): this {
    const before = super.get(uid);
    if (before !== undefined) this.total -= before.memBytes;
    this.total += task.memBytes;
    return super.set(uid, task);
  }

  override delete(uid: number): boolean {
    const task = super.get(uid);
    if (task === undefined) return false;
    this.total -= task.memBytes;
    return super.delete(uid);
  }

  override clear(): void {
    this.total = 0;
    super.clear();
  }
}
