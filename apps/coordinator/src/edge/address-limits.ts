/** Open connections per address, capped: one address cannot take every connection slot. */
export class AddressCounter {
  private readonly open = new Map<string, number>();

  /** @param max connections one address may hold at once */
  constructor(readonly max: number) {}

  /** Takes a slot for `address`; false (and nothing taken) when it already holds `max`. */
  acquire(address: string): boolean {
    const n = this.open.get(address) ?? 0;
    if (n >= this.max) return false;
    this.open.set(address, n + 1);
    return true;
  }

  release(address: string): void {
    const n = this.open.get(address) ?? 0;
    if (n <= 1) this.open.delete(address);
    else this.open.set(address, n - 1);
  }

  count(address: string): number {
    return this.open.get(address) ?? 0;
  }
}

/**
 * A token bucket per address: `perMinute` events a minute, bursts up to a minute's worth. Buckets
 * that have refilled are forgotten, so memory follows the addresses active in the last minute.
 */
export class AddressRate {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(readonly perMinute: number) {}

  /** Takes one token for `address`; false when its bucket is empty. */
  take(address: string, nowMs = Date.now()): boolean {
    if (this.buckets.size > 10_000) this.prune(nowMs);
    const bucket = this.buckets.get(address) ?? { tokens: this.perMinute, atMs: nowMs };
    bucket.tokens = Math.min(
      this.perMinute,
      bucket.tokens + ((nowMs - bucket.atMs) * this.perMinute) / 60_000,
    );
    bucket.atMs = nowMs;
    if (bucket.tokens < 1) {
      this.buckets.set(address, bucket);
      return false;
    }
    bucket.tokens -= 1;
    this.buckets.set(address, bucket);
    return true;
  }

  /** Seconds until `address` may try again (for Retry-After). */
  retryAfterS(address: string, nowMs = Date.now()): number {
    const bucket = this.buckets.get(address);
    if (!bucket) return 0;
    const tokens = bucket.tokens + ((nowMs - bucket.atMs) * this.perMinute) / 60_000;
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 60) / this.perMinute);
  }

  private prune(nowMs: number): void {
    for (const [address, b] of this.buckets) {
      if (b.tokens + ((nowMs - b.atMs) * this.perMinute) / 60_000 >= this.perMinute)
        this.buckets.delete(address);
    }
  }
}
