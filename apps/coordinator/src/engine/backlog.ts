// Queued tasks a restart left in the store past the memory budget (FLOCK_MAX_OPEN_BYTES). The
// recovery loads queued tasks only while they fit; the rest wait in the store and are loaded in
// submission order as room frees. Until the last of them is loaded, new submissions are refused
// (QUEUE_FULL) and workflow steps wait, so tasks accepted before the restart go first.
import type { TaskRecord } from '../store/store.ts';
import type { Engine } from './engine.ts';
import { OPEN_TASK_BYTES } from './open-tasks.ts';
import { RECOVERY_PAGE } from './recovery.ts';

/** Why a task left in the store waits (`GET /v1/tasks/:id`'s `waiting_reason`). */
export const BACKLOG_REASON =
  'waiting in the store: the coordinator restarted with more open tasks than its memory budget (FLOCK_MAX_OPEN_BYTES); they are loaded in submission order as room frees';

/**
 * The estimated memory a stored task takes once open, before it is parsed: its params' extra
 * (`openTaskBytes`) is counted once it is, so a load may pass the budget by that much.
 */
export const openBytesOf = (rec: TaskRecord): number => OPEN_TASK_BYTES + rec.envelope.byteLength;

export class Backlog {
  /** The tasks left: queued ones with a uid past `after`, up to `last`. */
  private after = 0;
  private last = 0;
  /** How many were left and not loaded yet (less those cancelled since). */
  private left = 0;
  private loading: Promise<void> | undefined;

  constructor(private readonly e: Engine) {}

  /** Tasks still waiting in the store to be loaded. */
  get size(): number {
    return this.left;
  }

  /** Whether `bytes` more fit in the budget (always, without one). */
  fits(bytes: number): boolean {
    const budget = this.e.config.maxOpenBytes;
    return budget === 0 || this.e.open.bytes + bytes <= budget;
  }

  /**
   * How many more tasks the budget has room for, at `OPEN_TASK_BYTES` each as the edge counts
   * them (`TenantLimits.checkCapacity`): none while tasks are left in the store, all without one.
   */
  room(): number {
    const budget = this.e.config.maxOpenBytes;
    if (budget === 0) return Number.POSITIVE_INFINITY;
    if (this.left > 0) return 0;
    return Math.max(0, Math.floor((budget - this.e.open.bytes) / OPEN_TASK_BYTES));
  }

  /** Whether the recovery must leave `rec` in the store: it is queued and does not fit. */
  leaves(rec: TaskRecord): boolean {
    return rec.state === 'queued' && (this.left > 0 || !this.fits(openBytesOf(rec)));
  }

  /** The recovery leaves `rec` (in uid order) in the store. */
  leave(rec: TaskRecord): void {
    if (this.left === 0) this.after = rec.uid - 1;
    this.last = rec.uid;
    this.left += 1;
  }

  /** Whether the task of `uid` is one left in the store. */
  holds(uid: number): boolean {
    return this.left > 0 && uid > this.after && uid <= this.last && !this.e.open.has(uid);
  }

  /** A task left in the store was cancelled (or otherwise ended) before it was loaded. */
  ended(uid: number): void {
    if (this.holds(uid)) this.left = Math.max(0, this.left - 1);
  }

  /**
   * Loads what fits once there is room for a tenth of the budget (or a page): called each
   * housekeeping tick, so loads come in batches rather than a task at a time.
   */
  refill(): void {
    if (this.left === 0 || this.loading || this.e.closed) return;
    const slack = Math.min(this.e.config.maxOpenBytes / 10, RECOVERY_PAGE * OPEN_TASK_BYTES);
    if (!this.fits(slack)) return;
    this.loading = this.load()
      .catch((err) => this.e.log.error({ err }, 'loading tasks left in the store failed'))
      .finally(() => {
        this.loading = undefined;
      });
  }

  /** Waits for a load under way (tests, shutdown). */
  async settled(): Promise<void> {
    await this.loading;
  }

  private async load(): Promise<void> {
    let loaded = 0;
    while (this.left > 0 && !this.e.closed) {
      const page = await this.e.store.openTasks(this.after, RECOVERY_PAGE);
      const stop = await this.loadPage(page);
      loaded += stop.loaded;
      if (stop.full) break;
      if (page.length < RECOVERY_PAGE || this.after >= this.last) {
        this.left = 0; // past the last one: any not seen were cancelled or leased elsewhere
        break;
      }
    }
    if (loaded > 0) {
      await this.e.tails.countFromStore();
      this.e.log.info({ loaded, left: this.left }, 'loaded tasks left in the store');
    }
  }

  /** Loads a page's tasks in uid order until one does not fit (`full`). */
  private async loadPage(page: TaskRecord[]): Promise<{ loaded: number; full: boolean }> {
    let loaded = 0;
    const now = Date.now();
    for (const rec of page) {
      if (rec.uid > this.last) {
        this.left = 0;
        return { loaded, full: false };
      }
      if (rec.state === 'queued' && !this.e.open.has(rec.uid)) {
        if (!this.fits(openBytesOf(rec))) return { loaded, full: true };
        await this.e.recovery.queue(rec, now);
        loaded += 1;
        this.left = Math.max(0, this.left - 1);
      }
      this.after = rec.uid;
    }
    return { loaded, full: false };
  }
}
