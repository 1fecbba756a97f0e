// Service levels per op: Prometheus histograms of queue wait and run time and counters of
// outcomes by op and code; success rate and p95 latency over a window against the targets, with
// a notice when an op starts or stops missing one.

import type { Engine } from './engine.ts';
import type { Lease } from './lease-table.ts';
import { NOTICES } from './notices.ts';
import { type OpLevel, OpStats } from './op-stats.ts';
import type { OpenTask } from './open-task.ts';

/** An op's Prometheus children, looked up once: labelling on every observation costs per task. */
interface OpSeries {
  queueWait: { observe(seconds: number): void };
  runTime: { observe(seconds: number): void };
  succeeded: { inc(n?: number): void };
  /**
   * Successes not yet added to `succeeded`: counted here, added when the counter is read
   * (`flush`). prom-client builds a label hash string and an object for every inc.
   */
  pending: number;
}

export class ServiceLevels {
  private readonly stats: OpStats;
  private readonly series = new Map<string, OpSeries>();

  constructor(private readonly e: Engine) {
    this.stats = new OpStats({
      windowMs: e.config.sloWindowMs,
      p95TargetMs: e.config.sloP95Ms,
      successTarget: e.config.sloSuccess,
    });
    e.metrics.flushOpOutcomes = () => this.flush();
  }

  /** A lease of the task was handed out after `queuedMs` in the queue. */
  leased(task: OpenTask, queuedMs: number): void {
    this.seriesOf(task.op).queueWait.observe(queuedMs / 1000);
  }

  /** A lease of the task ended with a result or a failure from its worker. */
  ran(task: OpenTask, lease: Lease, nowMs: number): void {
    this.seriesOf(task.op).runTime.observe((nowMs - lease.startedAtMs) / 1000);
  }

  /** The task is finished: succeeded, or failed with `code`. */
  finished(task: OpenTask, code: string | undefined, nowMs: number): void {
    const op = this.stats.keyOf(task.op);
    if (code === undefined) this.seriesOf(op).pending += 1;
    else this.e.metrics.opOutcomes.inc({ op, outcome: 'failed', code });
    this.stats.record(op, code === undefined, nowMs - task.createdAtMs, nowMs);
  }

  private seriesOf(taskOp: string): OpSeries {
    const op = this.stats.keyOf(taskOp);
    let s = this.series.get(op);
    if (!s) {
      const m = this.e.metrics;
      s = {
        queueWait: m.opQueueWait.labels(op),
        runTime: m.opRunTime.labels(op),
        succeeded: m.opOutcomes.labels({ op, outcome: 'succeeded', code: '' }),
        pending: 0,
      };
      this.series.set(op, s);
    }
    return s;
  }

  /** Adds the successes counted since the last flush to the outcomes counter. */
  private flush(): void {
    for (const s of this.series.values()) {
      if (s.pending === 0) continue;
      s.succeeded.inc(s.pending);
      s.pending = 0;
    }
  }

  /** Every op with an outcome in the window. */
  levels(nowMs = Date.now()): OpLevel[] {
    return this.stats.levels(nowMs);
  }

  /** Called by the tick: ops that started or stopped missing a target are flagged and announced. */
  evaluate(nowMs: number): void {
    for (const change of this.stats.evaluate(nowMs)) {
      const { op, slo, violated, level } = change;
      this.e.metrics.sloViolation.set({ op, slo }, violated ? 1 : 0);
      const target = slo === 'p95' ? this.e.config.sloP95Ms : this.e.config.sloSuccess;
      const measured = slo === 'p95' ? level.p95Ms : level.successRate;
      if (violated) this.e.log.warn({ op, slo, target, measured }, 'op misses its service-level target');
      this.e.events.publishNotice({
        topic: violated ? NOTICES.sloViolated : NOTICES.sloRecovered,
        payload: { op, slo, target, measured, window_ms: this.e.config.sloWindowMs, count: level.count },
      });
    }
  }
}
