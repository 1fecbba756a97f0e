// Service levels per op: success rate and p95 end-to-end latency over a sliding window, against
// the configured targets (FLOCK_SLO_SUCCESS, FLOCK_SLO_P95_MS). Exact over the window's last
// `maxSamples` outcomes of each op; ops past `maxOps` are counted together as `other`.

/** One op's service level over the window. */
export interface OpLevel {
  op: string;
  /** Outcomes in the window (at most maxSamples). */
  count: number;
  succeeded: number;
  failed: number;
  /** succeeded / count (1 with no outcome). */
  successRate: number;
  /** End-to-end latency (accepted → finished) percentiles, ms. */
  p50Ms: number;
  p95Ms: number;
  /** The targets it misses, when it has at least minSamples outcomes. */
  violations: SloKind[];
}

export type SloKind = 'p95' | 'success';

export interface OpStatsOptions {
  windowMs: number;
  /** The p95 latency target, ms; 0: none. */
  p95TargetMs: number;
  /** The success-rate target in 0..1; 0: none. */
  successTarget: number;
  /** Fewer outcomes than this in the window judge nothing. Default 20. */
  minSamples?: number;
  /** Outcomes kept per op. Default 1000. */
  maxSamples?: number;
  /** Ops tracked by name. Default 256. */
  maxOps?: number;
}

/** A change of an op's standing against one target. */
export interface SloChange {
  op: string;
  slo: SloKind;
  violated: boolean;
  level: OpLevel;
}

/**
 * One op's last outcomes, oldest first from `head`: a ring of typed arrays (no object per outcome;
 * it records every finished task), grown by doubling up to `max`, then overwriting the oldest.
 */
class Outcomes {
  private at = new Float64Array(16);
  private latency = new Float64Array(16);
  private ok = new Uint8Array(16);
  private head = 0;
  size = 0;

  constructor(private readonly max: number) {}

  push(atMs: number, latencyMs: number, ok: boolean): void {
    if (this.size === this.at.length && this.size < this.max) this.grow();
    const cap = this.at.length;
    const i = (this.head + this.size) % cap;
    this.at[i] = atMs;
    this.latency[i] = latencyMs;
    this.ok[i] = ok ? 1 : 0;
    if (this.size < cap) this.size += 1;
    else this.head = (this.head + 1) % cap;
  }

  /** Forgets the outcomes before `sinceMs` (the oldest: they are recorded in time order). */
  dropBefore(sinceMs: number): void {
    while (this.size > 0 && this.at[this.head]! < sinceMs) {
      this.head = (this.head + 1) % this.at.length;
      this.size -= 1;
    }
  }

  /** How many succeeded, and the latencies sorted ascending. */
  summary(): { succeeded: number; latencies: number[] } {
    const cap = this.at.length;
    const latencies = new Array<number>(this.size);
    let succeeded = 0;
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) % cap;
      latencies[k] = this.latency[i]!;
      succeeded += this.ok[i]!;
    }
    return { succeeded, latencies: latencies.sort((a, b) => a - b) };
  }

  private grow(): void {
    const cap = Math.min(this.max, this.at.length * 2);
    const order = (from: Float64Array | Uint8Array, to: Float64Array | Uint8Array): void => {
      for (let k = 0; k < this.size; k++) to[k] = from[(this.head + k) % from.length]!;
    };
    const [at, latency, ok] = [new Float64Array(cap), new Float64Array(cap), new Uint8Array(cap)];
    order(this.at, at);
    order(this.latency, latency);
    order(this.ok, ok);
    [this.at, this.latency, this.ok, this.head] = [at, latency, ok, 0];
  }
}

export class OpStats {
  private readonly ops = new Map<string, Outcomes>();
  private readonly violating = new Set<string>();
  private readonly minSamples: number;
  private readonly maxSamples: number;
  private readonly maxOps: number;

  constructor(private readonly options: OpStatsOptions) {
    this.minSamples = options.minSamples ?? 20;
    this.maxSamples = options.maxSamples ?? 1000;
    this.maxOps = options.maxOps ?? 256;
  }

  /** The name an op is counted under (`other` past maxOps). */
  keyOf(op: string): string {
    return this.ops.has(op) || this.ops.size < this.maxOps ? op : 'other';
  }

  record(op: string, ok: boolean, latencyMs: number, nowMs: number): void {
    const key = this.keyOf(op);
    let outcomes = this.ops.get(key);
    if (!outcomes) {
      outcomes = new Outcomes(this.maxSamples);
      this.ops.set(key, outcomes);
    }
    outcomes.push(nowMs, latencyMs, ok);
  }

  /** Every op with an outcome in the window, by name. */
  levels(nowMs: number): OpLevel[] {
    const out: OpLevel[] = [];
    for (const [op, outcomes] of this.ops) {
      const level = this.level(op, outcomes, nowMs);
      if (level) out.push(level);
      else this.ops.delete(op);
    }
    return out.sort((a, b) => (a.op < b.op ? -1 : a.op > b.op ? 1 : 0));
  }

  /** The changes of standing since the last call (an op that went quiet recovers). */
  evaluate(nowMs: number): SloChange[] {
    const changes: SloChange[] = [];
    const seen = new Set<string>();
    for (const level of this.levels(nowMs)) {
      for (const slo of ['p95', 'success'] as const) {
        const key = `${slo} ${level.op}`;
        seen.add(key);
        const violated = level.violations.includes(slo);
        if (violated === this.violating.has(key)) continue;
        if (violated) this.violating.add(key);
        else this.violating.delete(key);
        changes.push({ op: level.op, slo, violated, level });
      }
    }
    for (const key of [...this.violating]) {
      if (seen.has(key)) continue;
      this.violating.delete(key);
      const [slo, op] = [key.slice(0, key.indexOf(' ')) as SloKind, key.slice(key.indexOf(' ') + 1)];
      changes.push({ op, slo, violated: false, level: emptyLevel(op) });
    }
    return changes;
  }

  private level(op: string, outcomes: Outcomes, nowMs: number): OpLevel | undefined {
    outcomes.dropBefore(nowMs - this.options.windowMs);
    const count = outcomes.size;
    if (count === 0) return undefined;
    const { succeeded, latencies } = outcomes.summary();
    const level: OpLevel = {
      op,
      count,
      succeeded,
      failed: count - succeeded,
      successRate: succeeded / count,
      p50Ms: percentile(latencies, 0.5),
      p95Ms: percentile(latencies, 0.95),
      violations: [],
    };
    if (count >= this.minSamples) {
      const { p95TargetMs, successTarget } = this.options;
      if (p95TargetMs > 0 && level.p95Ms > p95TargetMs) level.violations.push('p95');
      if (successTarget > 0 && level.successRate < successTarget) level.violations.push('success');
    }
    return level;
  }
}

/** The nearest-rank percentile of sorted values (0 for none). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function emptyLevel(op: string): OpLevel {
  return { op, count: 0, succeeded: 0, failed: 0, successRate: 1, p50Ms: 0, p95Ms: 0, violations: [] };
}
