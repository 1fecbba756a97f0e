// The engine's clock: every tick it applies backpressure, ends expired leases, releases retry
// backoffs, fails tasks past their deadline and forgets idle workers; now and then it runs
// retention and blob collection.
import { type BlobGcResult, collectBlobs } from '../store/blob-gc.ts';
import { storeUnavailable } from '../store/store-unavailable.ts';
import type { Engine } from './engine.ts';

export class Housekeeping {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** When blobs are next collected (epoch ms), and whether a collection runs now. */
  private nextBlobGcMs = 0;
  private collecting = false;
  /** When service levels are next judged (once a second). */
  private nextLevelsMs = 0;

  constructor(private readonly e: Engine) {}

  /** Starts the ticks; the first blob collection comes a minute after start (restarts must not put it off for ever). */
  start(now: number): void {
    this.nextBlobGcMs = now + Math.min(this.e.config.blobGcIntervalMs, 60_000);
    const tickMs = Math.max(20, Math.min(250, Math.floor(this.e.config.leaseMs / 5)));
    this.timer = setInterval(() => void this.tick(), tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.e.closed || this.ticking) return;
    this.ticking = true;
    const now = Date.now();
    try {
      this.backpressure(now);
      await this.endExpired(now);
      for (const uid of this.e.delayed.due(now)) {
        this.e.delayedCount -= 1;
        const task = this.e.open.get(uid);
        if (task && task.state === 'queued') this.e.transitions.enqueue(task);
      }
      await this.failPastDeadline(now);
      this.e.sessions.forgetIdle(now);
      this.e.backlog.refill();
      this.e.outputs.recordAgain();
      this.e.breakers.tick(now);
      if (now >= this.nextLevelsMs) {
        this.nextLevelsMs = now + 1000;
        this.e.levels.evaluate(now);
        this.e.tails.tick(now);
      }
      if (this.e.config.blobGcIntervalMs > 0 && now >= this.nextBlobGcMs) {
        this.nextBlobGcMs = now + this.e.config.blobGcIntervalMs;
        void this.round(now);
      }
    } catch (err) {
      this.e.log.error({ err }, 'tick failed');
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Ends the leases whose time is up. While the store cannot be reached, what is left of them
   * stays (as the store has it) and is ended at a later tick: the rest of the tick goes on.
   */
  private async endExpired(now: number): Promise<void> {
    for (const lease of this.e.leases.expired(now)) {
      try {
        await this.e.outcomes.lost(lease, lease.overran ? 'RUN_TIME_EXCEEDED' : 'LEASE_EXPIRED', now);
      } catch (err) {
        if (!storeUnavailable(err)) throw err;
        return;
      }
    }
  }

  /**
   * Fails the tasks whose deadline passed. While the store cannot be reached, the rest stay due
   * (put back) and are failed at a later tick.
   */
  private async failPastDeadline(now: number): Promise<void> {
    const due = this.e.deadlines.due(now);
    for (let i = 0; i < due.length; i++) {
      try {
        await this.e.transitions.deadlineExceeded(due[i]!, now);
      } catch (err) {
        if (!storeUnavailable(err)) throw err;
        for (const uid of due.slice(i)) this.e.deadlines.push(now, uid);
        return;
      }
    }
  }

  /**
   * A worker whose socket is backed up gets nothing new until it drains; one silent for a whole
   * lease period (no heartbeat, no frame) is not given more.
   */
  private backpressure(now: number): void {
    for (const w of this.e.workers.values()) {
      const blocked = w.link
        ? w.link.bufferedAmount() > this.e.config.maxBufferedBytes ||
          now - w.lastSeenMs >= this.e.config.leaseMs
        : true;
      if (w.blocked && !blocked) this.e.dispatcher.scheduleDispatch();
      w.blocked = blocked;
    }
  }

  /** One housekeeping round: retention (when set), then blob collection. */
  async round(nowMs = Date.now()): Promise<{ purged: number; blobs: BlobGcResult | undefined }> {
    const purged = await this.purgeExpired(nowMs);
    return { purged, blobs: await this.collectBlobs(nowMs) };
  }

  /**
   * Retention: deletes finished tasks last changed more than `retentionDays` ago (in batches of
   * 1000, at most 100,000 a round) and their verification records; their blobs go in the next
   * collection. Returns how many were deleted.
   */
  async purgeExpired(nowMs = Date.now()): Promise<number> {
    if (this.e.config.retentionDays === 0) return 0;
    const before = nowMs - this.e.config.retentionDays * 24 * 3600_000;
    let purged = 0;
    try {
      for (let round = 0; round < 100; round++) {
        const uids = await this.e.store.purgeFinished(before, 1000);
        for (const uid of uids) await this.e.trust.forget(String(uid)).catch(() => undefined);
        purged += uids.length;
        if (uids.length < 1000) break;
      }
    } catch (err) {
      this.e.log.error({ err }, 'retention failed');
    }
    if (purged > 0)
      this.e.log.info({ purged, retentionDays: this.e.config.retentionDays }, 'finished tasks deleted');
    this.e.metrics.tasksPurged.inc(purged);
    return purged;
  }

  /**
   * Removes blobs nothing uses any more: outputs of refused, outvoted or withdrawn results, and
   * temp files of interrupted writes (`blob-gc.ts`). Results held in memory (replicas of a task
   * still being verified) count as in use. Returns undefined when a collection is already running.
   */
  async collectBlobs(nowMs = Date.now()): Promise<BlobGcResult | undefined> {
    if (this.collecting) return undefined;
    this.collecting = true;
    try {
      const inUse: string[] = [];
      for (const task of this.e.open.values()) {
        for (const result of task.replicas?.values() ?? []) {
          for (const out of result.outputs ?? []) if (out.hash) inUse.push(out.hash);
        }
      }
      const result = await collectBlobs(this.e.store, this.e.blobs, {
        nowMs,
        graceMs: this.e.config.blobGcGraceMs,
        inUse,
      });
      this.e.metrics.blobsCollected.inc(result.deleted);
      this.e.metrics.blobBytesCollected.inc(result.bytes);
      if (result.deleted > 0 || result.tempRemoved > 0) this.e.log.info(result, 'unused blobs collected');
      return result;
    } catch (err) {
      this.e.log.error({ err }, 'blob collection failed');
      return undefined;
    } finally {
      this.collecting = false;
    }
  }
}
