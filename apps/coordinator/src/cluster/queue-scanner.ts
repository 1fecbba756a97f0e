import type { PostgresStore } from '../store/postgres-store.ts';
import type { TaskRecord } from '../store/store.ts';

export interface QueueScannerOptions {
  /**
   * A task queued elsewhere is taken only once it has waited this long, ms: the coordinator it
   * was submitted to usually leases it first, and the others then never race for it. Default 100.
   */
  stealAfterMs: number;
  /** Tolerated clock difference between coordinators, ms: the scan window reaches this far back. */
  clockSkewMs: number;
  /**
   * How many tasks this coordinator can take now (free volunteer slots beyond its own queue).
   * A scan adopts at most that many, oldest first, and leaves the rest queued for whoever has
   * room, so that a backlog is not copied into every coordinator. Default: unlimited.
   */
  appetite?: () => number;
  onError: (err: unknown) => void;
}

/**
 * Brings tasks queued through other coordinators (or requeued by them) into this coordinator.
 * A wake-up (the `flock_task_queued` NOTIFY, or the periodic beat) schedules one scan
 * `stealAfterMs` later; wake-ups in between coalesce. A scan first reads only (uid, queue time)
 * of the tasks queued in its window, then loads the ones it has not offered yet and hands each
 * to `adopt`, which ignores those it already knows.
 */
export class QueueScanner {
  private fromMs: number;
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private closed = false;
  /** uid → the queue time at which it was offered to `adopt`. */
  private readonly offered = new Map<number, number>();

  constructor(
    private readonly store: PostgresStore,
    private readonly adopt: (task: TaskRecord) => void,
    private readonly options: QueueScannerOptions,
    startMs: number,
  ) {
    this.fromMs = startMs - options.clockSkewMs;
  }

  wake(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run();
    }, this.options.stealAfterMs);
    this.timer.unref();
  }

  /** After missed notifications: scan the whole queue. */
  resync(): void {
    this.fromMs = 0;
    this.offered.clear();
    this.wake();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.scanning;
  }

  private run(): void {
    if (this.closed) return;
    if (this.scanning) {
      this.again = true;
      return;
    }
    this.scanning = this.scan()
      .catch(this.options.onError)
      .finally(() => {
        this.scanning = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async scan(): Promise<void> {
    const appetite = this.options.appetite?.() ?? Number.POSITIVE_INFINITY;
    if (appetite <= 0) return;
    const toMs = Date.now() - this.options.stealAfterMs;
    const keys = await this.store.queuedKeys(this.fromMs, toMs);
    const unseen = keys.filter((k) => this.offered.get(k.uid) !== k.updatedAtMs);
    const fresh = unseen.slice(0, appetite);
    for (const k of fresh) this.offered.set(k.uid, k.updatedAtMs);
    for (const task of await this.store.queuedByUid(fresh.map((k) => k.uid))) {
      if (this.closed) return;
      this.adopt(task);
    }
    // Left over for lack of room: keep the window where it is, so a later scan sees them.
    if (fresh.length < unseen.length) return;
    this.fromMs = Math.max(this.fromMs, toMs - this.options.clockSkewMs);
    // What fell out of the window cannot be offered twice any more.
    for (const [uid, at] of this.offered) if (at < this.fromMs) this.offered.delete(uid);
  }
}
