/** A min-heap of (time, uid): the engine's deadlines and retry backoffs. */
export class TimeQueue {
  private readonly items: Array<[number, number]> = [];

  push(at: number, uid: number): void {
    const a = this.items;
    a.push([at, uid]);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]![0] <= a[i]![0]) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  /** Pops every entry due at `now`. */
  due(now: number): number[] {
    const out: number[] = [];
    const a = this.items;
    while (a.length > 0 && a[0]![0] <= now) {
      out.push(a[0]![1]);
      const last = a.pop()!;
      if (a.length === 0) break;
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]![0] < a[m]![0]) m = l;
        if (r < a.length && a[r]![0] < a[m]![0]) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return out;
  }

  get size(): number {
    return this.items.length;
  }
}
