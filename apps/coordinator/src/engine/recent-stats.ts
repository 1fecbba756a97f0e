/** Successes kept at most (the newest); past it the oldest is overwritten. */
const MAX_RECENT = 200_000;

/**
 * Successes of the last minute and their end-to-end latencies, for /v1/stats: a ring of two typed
 * arrays (every success is recorded; an object per success lived a minute and was promoted to the
 * old generation), grown by doubling up to `max`.
 */
export class RecentStats {
  private at = new Float64Array(1024);
  private latency = new Float64Array(1024);
  private head = 0;
  private size = 0;

  constructor(private readonly max = MAX_RECENT) {}

  record(nowMs: number, latencyMs: number): void {
    if (this.size === this.at.length && this.size < this.max) this.grow();
    const cap = this.at.length;
    const i = (this.head + this.size) % cap;
    this.at[i] = nowMs;
    this.latency[i] = latencyMs;
    if (this.size < cap) this.size += 1;
    else this.head = (this.head + 1) % cap;
  }

  /** Successes per minute over the last minute, and end-to-end latency percentiles (ms). */
  snapshot(nowMs = Date.now()): { throughputPerMin: number; p50: number; p95: number; p99: number } {
    const cap = this.at.length;
    while (this.size > 0 && this.at[this.head]! < nowMs - 60_000) {
      this.head = (this.head + 1) % cap;
      this.size -= 1;
    }
    const lat = new Float64Array(this.size);
    for (let k = 0; k < this.size; k++) lat[k] = this.latency[(this.head + k) % cap]!;
    lat.sort();
    const pct = (p: number): number =>
      lat.length === 0 ? 0 : lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
    return { throughputPerMin: this.size, p50: pct(0.5), p95: pct(0.95), p99: pct(0.99) };
  }

  private grow(): void {
    const cap = Math.min(this.max, this.at.length * 2);
    const at = new Float64Array(cap);
    const latency = new Float64Array(cap);
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) % this.at.length;
      at[k] = this.at[i]!;
      latency[k] = this.latency[i]!;
    }
    [this.at, this.latency, this.head] = [at, latency, 0];
  }
}
