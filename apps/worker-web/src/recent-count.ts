/**
 * How many events happened in the last `windowMs` (the page's throughput: jobs finished in the
 * last minute). The count also falls when nothing happens, so `onChange` is called each time an
 * event leaves the window: a page that renders only on changes would otherwise keep showing the
 * last figure for as long as the tab stays idle.
 */
export class RecentCount {
  /** When each event in the window happened (Date.now() ms), oldest first. */
  private readonly times: number[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly windowMs: number,
    private readonly onChange: () => void,
  ) {}

  /** One event now. */
  add(now = Date.now()): void {
    this.times.push(now);
    this.schedule(now);
  }

  /** Events in the window that ends `now`. */
  count(now = Date.now()): number {
    this.prune(now);
    return this.times.length;
  }

  private prune(now: number): void {
    let old = 0;
    while (old < this.times.length && this.times[old]! <= now - this.windowMs) old++;
    if (old > 0) this.times.splice(0, old);
  }

  /** One timer at a time, for the oldest event's way out of the window. */
  private schedule(now: number): void {
    if (this.timer !== undefined || this.times.length === 0) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const at = Date.now();
        this.prune(at);
        this.onChange();
        this.schedule(at);
      },
      Math.max(0, this.times[0]! + this.windowMs - now),
    );
  }
}
