/**
 * What one volunteer connection may cost the coordinator: a token bucket of bytes received and
 * one of work done (a unit per frame and per list entry the frame makes it process, such as the
 * lease ids of a heartbeat). Spending is never refused: a frame already received is handled, and
 * an overdrawn connection is simply not read until its buckets refill (`spend` says how long), so
 * a flood slows its sender, over TCP, instead of the coordinator.
 */
export class ConnectionBudget {
  private bytes: number;
  private work: number;
  private atMs: number;

  /**
   * @param bytesPerSecond sustained byte rate; bursts up to `burstSeconds` of it
   * @param workPerSecond sustained work units a second; bursts likewise
   */
  constructor(
    private readonly bytesPerSecond: number,
    private readonly workPerSecond: number,
    private readonly burstSeconds = 2,
    nowMs = Date.now(),
  ) {
    this.bytes = bytesPerSecond * burstSeconds;
    this.work = workPerSecond * burstSeconds;
    this.atMs = nowMs;
  }

  /** Spends `bytes` and `work`; returns the ms to stop reading for (0: go on). */
  spend(bytes: number, work: number, nowMs = Date.now()): number {
    this.refill(nowMs);
    this.bytes -= bytes;
    this.work -= work;
    const byteWait = this.bytes < 0 ? (-this.bytes / this.bytesPerSecond) * 1000 : 0;
    const workWait = this.work < 0 ? (-this.work / this.workPerSecond) * 1000 : 0;
    return Math.ceil(Math.max(byteWait, workWait));
  }

  private refill(nowMs: number): void {
    const seconds = Math.max(0, nowMs - this.atMs) / 1000;
    this.atMs = nowMs;
    this.bytes = Math.min(
      this.bytesPerSecond * this.burstSeconds,
      this.bytes + seconds * this.bytesPerSecond,
    );
    this.work = Math.min(this.workPerSecond * this.burstSeconds, this.work + seconds * this.workPerSecond);
  }
}
