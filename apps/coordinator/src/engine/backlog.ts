// Queued tasks that wait in the store rather than in memory, loaded in submission order: past the
// memory budget (FLOCK_MAX_OPEN_BYTES) as room frees, and after a restart past its first page while
// the coordinator serves. New tasks past the budget are stored and left there (intake), and so are
// the queued tasks a restart finds past its first page (recovery). Once tasks wait there, every new
// one waits behind them, so none overtakes an older.
import type { TaskRecord } from '../store/store.ts';
import type { Engine } from './engine.ts';
import { OPEN_TASK_BYTES } from './open-tasks.ts';
import { RECOVERY_PAGE } from './recovery.ts';

/** Why a task left in the store waits (`GET /v1/tasks/:id`'s `waiting_reason`). */
export const BACKLOG_REASON =
  "waiting in the store: this coordinator's queued tasks fill its memory budget (FLOCK_MAX_OPEN_BYTES); the ones past it are loaded in submission order as tasks finish";

/** Why a task left by a restart waits while there is room to load it. */
export const RESTART_REASON =
  'waiting in the store: after a restart the coordinator loads its queued tasks in submission order while it serves';

/**
 * Stored tasks read a page at a time while the coordinator serves: a page's tasks are made open in
 * one go (about 20 µs each), so this bounds how long a load holds the event loop (~20 ms).
 */
export const LOAD_PAGE = 1000;

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
  /** Why the tasks left now were left: the budget, or a restart that read only its first page. */
  private cause: 'budget' | 'restart' = 'budget';

  constructor(private readonly e: Engine) {}

  /** Tasks waiting in the store to be loaded. */
  get size(): number {
    return this.left;
  }

  /** Whether `bytes` more fit in the budget (always without one, and with no task open). */
  fits(bytes: number): boolean {
    const budget = this.e.config.maxOpenBytes;
    return budget === 0 || this.e.open.bytes + bytes <= budget || this.e.open.size === 0;
  }

  /** Whether a stored queued task taking `bytes` once open waits in the store instead. */
  leaves(bytes: number): boolean {
    return this.left > 0 || !this.fits(bytes);
  }

  /** Leaves the queued task `uid` (in uid order: the newest so far) in the store. */
  leave(uid: number): void {
    this.leaveFrom(uid - 1, uid, 1, 'budget');
  }

  /**
   * Leaves `count` queued tasks above `afterUid` in the store without naming them: a restart
   * that read its first page of open tasks and only the running ones after it (`Recovery.recover`).
   */
  leaveRest(afterUid: number, count: number): void {
    if (count > 0) this.leaveFrom(afterUid, Number.POSITIVE_INFINITY, count, 'restart');
  }

  private leaveFrom(afterUid: number, lastUid: number, count: number, cause: 'budget' | 'restart'): void {
    if (this.left === 0) {
      this.after = afterUid;
      this.last = lastUid;
      this.cause = cause;
      if (cause === 'budget')
        this.e.log.warn(
          { openBytes: this.e.open.bytes, maxOpenBytes: this.e.config.maxOpenBytes },
          'queued tasks past FLOCK_MAX_OPEN_BYTES wait in the store from now on, loaded in submission order as tasks finish',
        );
    } else this.last = Math.max(this.last, lastUid);
    this.left += count;
  }

  /** Why a task left in the store waits (`waiting_reason`). */
  reason(): string {
    return this.cause === 'restart' && this.fits(OPEN_TASK_BYTES) ? RESTART_REASON : BACKLOG_REASON;
  }

  /** Whether the task of `uid` is one left in the store. */
  holds(uid: number): boolean {
    return this.left > 0 && uid > this.after && uid <= this.last && !this.e.open.has(uid);
  }

  /**
   * A queued task not held here was cancelled: true, and no longer counted, when it was one left
   * in the store.
   */
  ended(uid: number): boolean {
    if (!this.holds(uid)) return false;
    this.left = Math.max(0, this.left - 1);
    return true;
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
      .catch((err) => this.e.log.error({ err }, 'loading queued tasks from the store failed'))
      .finally(() => {
        this.loading = undefined;
      });
  }

  /** Waits for a load under way (`Coordinator.stop`, before its store is closed). */
  async settled(): Promise<void> {
    await this.loading;
  }

  private async load(): Promise<void> {
    let loaded = 0;
    while (this.left > 0 && !this.e.closed) {
      // A store read that waits for nothing resolves in a microtask: without a turn of the event
      // loop between pages, a load of many pages would hold the sockets and timers until it ended.
      if (loaded > 0) await new Promise((resolve) => setImmediate(resolve));
      // Tasks left while the page is read have newer uids than any in it: not done yet then.
      const lastBefore = this.last;
      const page = await this.e.store.openTasks(this.after, LOAD_PAGE);
      const stop = await this.loadPage(page);
      loaded += stop.loaded;
      if (stop.full) break;
      if (page.length < LOAD_PAGE && this.last === lastBefore) {
        this.left = 0; // read to the end: any not seen were cancelled or leased elsewhere
        break;
      }
    }
    if (loaded > 0) {
      await this.e.tails.countFromStore();
      this.e.log.debug({ loaded, left: this.left }, 'loaded queued tasks from the store');
    }
    if (this.left === 0) this.e.log.info('no queued task waits in the store any more');
  }

  /** Loads a page's tasks in uid order until one does not fit (`full`). */
  private async loadPage(page: TaskRecord[]): Promise<{ loaded: number; full: boolean }> {
    let loaded = 0;
    const now = Date.now();
    for (const rec of page) {
      if (rec.uid > this.last) {
        this.left = 0; // past the last one left
        return { loaded, full: false };
      }
      if (rec.state === 'queued' && !this.e.open.has(rec.uid)) {
        if (!this.fits(openBytesOf(rec))) return { loaded, full: true };
        this.left = Math.max(0, this.left - 1); // (on a shared store it may be another's)
        await this.e.recovery.queue(rec, now, true);
        loaded += 1;
      }
      this.after = rec.uid;
    }
    return { loaded, full: false };
  }
}
