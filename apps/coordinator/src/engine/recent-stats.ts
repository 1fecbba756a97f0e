/** Successes of the last minute and their end-to-end latencies, for /v1/stats. */
export class RecentStats {
  private readonly recent: Array<[finishedAtMs: number, latencyMs: number]> = [];

  record(nowMs: number, latencyMs: number): void {
    this.recent.push([nowMs, latencyMs]);
    if (this.recent.length > 200_000) this.recent.splice(0, 100_000);
  }

  /** Successes per minute over the last minute, and end-to-end latency percentiles (ms). */
  snapshot(nowMs = Date.now()): { throughputPerMin: number; p50: number; p95: number; p99: number } {
    while (this.recent.length > 0 && this.recent[0]![0] < nowMs - 60_000) this.recent.shift();
    const lat = this.recent.map((r) => r[1]).sort((a, b) => a - b);
    const pct = (p: number): number =>
      lat.length === 0 ? 0 : lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
    return { throughputPerMin: this.recent.length, p50: pct(0.5), p95: pct(0.95), p99: pct(0.99) };
  }
}
