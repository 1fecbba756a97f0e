import { Counter, Gauge, Registry } from 'prom-client';
import { BucketHistogram } from './bucket-histogram.ts';
import type { TaskState } from './store/store.ts';

/**
 * The coordinator's Prometheus metrics, on a registry of its own (several coordinators can run
 * in one process in tests). Gauges that mirror state are filled at scrape time by `collect`.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly tasks: Gauge<'state'>;
  readonly queueDepth: Gauge;
  readonly openBytes: Gauge;
  readonly storeQueued: Gauge;
  readonly workers: Gauge<'capability'>;
  readonly assignmentLatency: BucketHistogram;
  /** Volunteer frames and bytes so far (the worker hub adds to these). */
  readonly wire = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, batchesIn: 0, batchesOut: 0 };
  readonly frames: Counter<'direction'>;
  readonly frameBytes: Counter<'direction'>;
  readonly errors: Counter<'code'>;
  /** Known-answer checks: issued, passed, failed, released (no verdict: failure or lost lease). */
  readonly spotChecks: Counter<'outcome'>;
  /** Blobs removed by garbage collection, and their bytes. */
  readonly blobsCollected: Counter;
  readonly blobBytesCollected: Counter;
  /** Finished tasks deleted by retention. */
  readonly tasksPurged: Counter;
  readonly http: Counter<'method' | 'status'>;
  /** Per op (engine/op-key.ts): queued → leased, leased → result or failure, and how tasks end. */
  readonly opQueueWait: BucketHistogram;
  readonly opRunTime: BucketHistogram;
  readonly opOutcomes: Counter<'op' | 'outcome' | 'code'>;
  /**
   * Adds to `opOutcomes` what was counted outside prom-client on the hot path (successes, by
   * engine/service-levels.ts); called whenever `opOutcomes` is read.
   */
  flushOpOutcomes: () => void = () => undefined;
  /** 1 while an op misses a service-level target (slo: p95 | success). */
  readonly sloViolation: Gauge<'op' | 'slo'>;
  /** 1 while a tenant's op is held by its circuit breaker. */
  readonly breakerOpen: Gauge<'tenant' | 'op'>;

  constructor(collect: {
    taskCounts: () => Promise<Record<TaskState, number>>;
    queueDepth: () => number;
    /** The estimated memory of the open tasks held (`Coordinator.openBytes`). */
    openBytes: () => number;
    /** Queued tasks waiting in the store past the memory budget (`Coordinator.leftInStore`). */
    leftInStore: () => number;
    workersByCapability: () => Record<string, number>;
  }) {
    const registers = [this.registry];
    this.tasks = new Gauge({
      name: 'flock_tasks',
      help: 'Tasks by state.',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await collect.taskCounts();
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    this.queueDepth = new Gauge({
      name: 'flock_queue_depth',
      help: 'Queued tasks (runnable, waiting for a retry backoff, or waiting in the store past FLOCK_MAX_OPEN_BYTES).',
      registers,
      collect() {
        this.set(collect.queueDepth());
      },
    });
    this.openBytes = new Gauge({
      name: 'flock_open_task_bytes',
      help: 'Estimated memory of the queued and running tasks held, bytes (FLOCK_MAX_OPEN_BYTES caps it).',
      registers,
      collect() {
        this.set(collect.openBytes());
      },
    });
    this.storeQueued = new Gauge({
      name: 'flock_store_queued_tasks',
      help: 'Queued tasks waiting in the store past FLOCK_MAX_OPEN_BYTES, loaded as room frees (FLOCK_MAX_STORE_QUEUED caps it).',
      registers,
      collect() {
        this.set(collect.leftInStore());
      },
    });
    this.workers = new Gauge({
      name: 'flock_workers',
      help: 'Connected workers by capability class (webgpu, wasm).',
      labelNames: ['capability'],
      registers,
      collect() {
        this.reset();
        for (const [capability, n] of Object.entries(collect.workersByCapability()))
          this.set({ capability }, n);
      },
    });
    // Histograms observed for every task keep their counts in typed arrays (bucket-histogram.ts).
    this.assignmentLatency = new BucketHistogram({
      name: 'flock_assignment_latency_seconds',
      help: 'From queued (accepted or requeued) to leased to a worker.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    // Frame counts are plain numbers on the hot path, copied into the counters at scrape time.
    const wire = this.wire;
    this.frames = new Counter({
      name: 'flock_worker_frames_total',
      help: 'Volunteer WebSocket frames.',
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset();
        this.inc({ direction: 'in' }, wire.framesIn);
        this.inc({ direction: 'out' }, wire.framesOut);
      },
    });
    this.frameBytes = new Counter({
      name: 'flock_worker_frame_bytes_total',
      help: 'Volunteer WebSocket frame bytes.',
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset();
        this.inc({ direction: 'in' }, wire.bytesIn);
        this.inc({ direction: 'out' }, wire.bytesOut);
      },
    });
    this.errors = new Counter({
      name: 'flock_errors_total',
      help: 'Errors by stable code (protocol violations, refused results, API errors).',
      labelNames: ['code'],
      registers,
    });
    this.spotChecks = new Counter({
      name: 'flock_spot_checks_total',
      help: 'Known-answer spot checks by outcome (issued, passed, failed, released).',
      labelNames: ['outcome'],
      registers,
    });
    this.blobsCollected = new Counter({
      name: 'flock_blobs_collected_total',
      help: 'Unused blobs removed by garbage collection.',
      registers,
    });
    this.blobBytesCollected = new Counter({
      name: 'flock_blob_bytes_collected_total',
      help: 'Bytes of the unused blobs removed by garbage collection.',
      registers,
    });
    this.tasksPurged = new Counter({
      name: 'flock_tasks_purged_total',
      help: 'Finished tasks deleted by retention (FLOCK_RETENTION_DAYS).',
      registers,
    });
    this.http = new Counter({
      name: 'flock_http_requests_total',
      help: 'HTTP requests by method and status.',
      labelNames: ['method', 'status'],
      registers,
    });
    const seconds = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
    this.opQueueWait = new BucketHistogram({
      name: 'flock_task_queue_wait_seconds',
      help: 'From queued to leased, by op.',
      labelName: 'op',
      buckets: seconds,
      registers,
    });
    this.opRunTime = new BucketHistogram({
      name: 'flock_task_run_seconds',
      help: 'From leased to the result or failure, by op.',
      labelName: 'op',
      buckets: seconds,
      registers,
    });
    const flushOpOutcomes = (): void => this.flushOpOutcomes();
    this.opOutcomes = new Counter({
      name: 'flock_task_outcomes_total',
      help: 'Finished tasks by op, outcome (succeeded, failed) and failure code.',
      labelNames: ['op', 'outcome', 'code'],
      registers,
      collect() {
        flushOpOutcomes();
      },
    });
    this.sloViolation = new Gauge({
      name: 'flock_slo_violation',
      help: 'Whether an op misses its service-level target (FLOCK_SLO_P95_MS, FLOCK_SLO_SUCCESS) over the window.',
      labelNames: ['op', 'slo'],
      registers,
    });
    this.breakerOpen = new Gauge({
      name: 'flock_breaker_open',
      help: "Whether a tenant's op is held by its circuit breaker (FLOCK_BREAKER_FAILURES).",
      labelNames: ['tenant', 'op'],
      registers,
    });
  }
}
