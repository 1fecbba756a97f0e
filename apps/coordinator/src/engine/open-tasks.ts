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
 * Params are held parsed, which takes more heap than their JSON text: 2.2–2.3× for rows of small
 * objects (`queued-memory.ts --params-kb 4`: 11.7 KB of heap for 5.3 KB of text). Their text is
 * counted once with the envelope and this many times more, 2.5× in all.
 */
export const PARAMS_HEAP_EXTRA = 1.5;

/** A task's estimated memory: `OPEN_TASK_BYTES`, its stored envelope, its params' extra. */
export function openTaskBytes(envelopeBytes: number, params: object | undefined): number {
  const extra = params === undefined ? 0 : Math.ceil(PARAMS_HEAP_EXTRA * JSON.stringify(params).length);
  return OPEN_TASK_BYTES + envelopeBytes + extra;
}

/**
 * The open tasks by uid (a Map: the engine reads it everywhere) that also keeps the sum of
 * their estimates (`bytes`, `openTaskBytes`). Every way into or out of the map updates it.
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
