import { CoordinatorError, type CoordinatorErrorCode } from '../errors.ts';
import type { Store } from '../store/store.ts';

/** A 429 (or QUEUE_FULL's 503) whose answer carries `Retry-After` (seconds). */
export class RetryLaterError extends CoordinatorError {
  constructor(
    code: Extract<CoordinatorErrorCode, 'RATE_LIMITED' | 'QUOTA_EXCEEDED' | 'QUEUE_FULL'>,
    message: string,
    readonly retryAfterS: number,
  ) {
    super(code, message);
  }
}

/** Seconds a tenant at its queued-task quota is told to wait: tasks leave the queue at the volunteers' pace. */
export const QUOTA_RETRY_AFTER_S = 5;

/**
 * A token bucket: `ratePerS` tokens a second up to `burst`; `take()` spends one or says how long,
 * in ms, until one is there.
 */
export class TokenBucket {
  private tokens: number;
  private atMs: number;

  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.atMs = nowMs;
  }

  /** 0 when a token was taken; else the ms until the next one (nothing is taken). */
  take(nowMs: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.atMs) / 1000) * this.ratePerS);
    this.atMs = nowMs;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return ((1 - this.tokens) / this.ratePerS) * 1000;
  }

  /** Full again at `nowMs` (nothing to remember about this tenant). */
  fullAt(nowMs: number): boolean {
    return this.tokens + ((nowMs - this.atMs) / 1000) * this.ratePerS >= this.burst;
  }
}

/** The per-tenant limits of requester submissions (0: no limit). */
export interface TenantLimitSettings {
  /** Submissions (POST tasks, campaigns, workflows) per second per tenant; may be a fraction. */
  tenantSubmitRate: number;
  /** Submissions a tenant may make at once before the rate applies. */
  tenantSubmitBurst: number;
  /** Queued tasks per tenant; a submission that would pass it is refused whole. */
  tenantMaxQueued: number;
  /** Tasks one tenant runs at once on a coordinator's volunteers (the scheduler holds the rest queued). */
  tenantMaxRunning: number;
  /** Bytes of blobs (uploads and outputs) per tenant; an upload that would pass it is refused. */
  tenantMaxStoredBytes: number;
}

/** What `checkCapacity` compares: the queued tasks waiting in the store, and their limit. */
export interface StoreQueueCapacity {
  /** Queued tasks waiting in the store past the memory budget (engine/backlog.ts). */
  leftInStore(): number;
  /** FLOCK_MAX_STORE_QUEUED; 0: none. */
  maxStoreQueued: number;
}

/** Retry-After of QUEUE_FULL, s: the queue drains as volunteers finish tasks. */
const QUEUE_FULL_RETRY_AFTER_S = 10;

/** Buckets kept before idle (full) ones are dropped. */
const SWEEP_AT = 10_000;

/**
 * Per-tenant limits at the REST edge: a token bucket of submissions (429 RATE_LIMITED with
 * `Retry-After` in whole seconds until the next token) and a quota of queued tasks (429
 * QUOTA_EXCEEDED, `Retry-After: 5`). One tenant's flood waits in its own bucket; the others'
 * submissions are never refused for it, and the scheduler's fair share still divides volunteers.
 */
export class TenantLimits {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly settings: TenantLimitSettings,
    private readonly store: Store,
    private readonly now: () => number = Date.now,
    /** The queue waiting in the store against its limit (`checkQueued`); none: no check. */
    private readonly capacity?: StoreQueueCapacity,
  ) {}

  /** Spends one submission of `tenant`'s rate; throws RATE_LIMITED when none is left. */
  takeSubmission(tenant: string): void {
    const { tenantSubmitRate: rate, tenantSubmitBurst: burst } = this.settings;
    if (rate === 0) return;
    const now = this.now();
    let bucket = this.buckets.get(tenant);
    if (!bucket) {
      if (this.buckets.size >= SWEEP_AT) this.sweep(now);
      bucket = new TokenBucket(rate, Math.max(1, burst), now);
      this.buckets.set(tenant, bucket);
    }
    const waitMs = bucket.take(now);
    if (waitMs > 0) {
      throw new RetryLaterError(
        'RATE_LIMITED',
        `more than ${rate} submissions a second (burst ${burst}) from this tenant`,
        Math.max(1, Math.ceil(waitMs / 1000)),
      );
    }
  }

  /**
   * Throws QUEUE_FULL when `adding` more tasks could pass `FLOCK_MAX_STORE_QUEUED`: past the
   * memory budget (`FLOCK_MAX_OPEN_BYTES`) queued tasks wait in the store, up to that many.
   */
  checkCapacity(adding: number): void {
    const capacity = this.capacity;
    if (capacity === undefined || capacity.maxStoreQueued === 0) return;
    const left = capacity.leftInStore();
    if (left + adding > capacity.maxStoreQueued) {
      throw new RetryLaterError(
        'QUEUE_FULL',
        `${left} queued tasks wait in this coordinator's store past its memory budget; ${adding} more would pass FLOCK_MAX_STORE_QUEUED (${capacity.maxStoreQueued}): try again once tasks have finished`,
        QUEUE_FULL_RETRY_AFTER_S,
      );
    }
  }

  /**
   * Throws QUEUE_FULL when the coordinator has no room for `adding` more tasks (`checkCapacity`),
   * and QUOTA_EXCEEDED when they would pass `tenant`'s quota of queued tasks.
   */
  async checkQueued(tenant: string, adding: number): Promise<void> {
    this.checkCapacity(adding);
    const max = this.settings.tenantMaxQueued;
    if (max === 0) return;
    const queued = (await this.store.countByState(tenant, undefined)).queued;
    if (queued + adding > max) {
      throw new RetryLaterError(
        'QUOTA_EXCEEDED',
        `${queued} tasks queued; ${adding} more would pass this tenant's quota of ${max}`,
        QUOTA_RETRY_AFTER_S,
      );
    }
  }

  /**
   * Throws QUOTA_EXCEEDED (429, no Retry-After: room comes back only as the tenant's tasks and
   * their blobs are deleted) when `adding` more bytes would pass `tenant`'s stored-bytes quota.
   */
  async checkStored(tenant: string, adding: number): Promise<void> {
    const max = this.settings.tenantMaxStoredBytes;
    if (max === 0) return;
    const stored = await this.store.storedBytes(tenant);
    if (stored + adding > max) {
      throw new CoordinatorError(
        'QUOTA_EXCEEDED',
        `${stored} bytes stored; ${adding} more would pass this tenant's quota of ${max} (FLOCK_TENANT_MAX_STORED_BYTES)`,
      );
    }
  }

  private sweep(now: number): void {
    for (const [tenant, bucket] of this.buckets) if (bucket.fullAt(now)) this.buckets.delete(tenant);
  }
}
