// A Prometheus histogram whose observations cost no allocation: each series keeps its bucket
// counts in a typed array, and the registry reads them at scrape time. prom-client's Histogram
// built a label object, a label-hash string and a closure result for every observe (270–410 ns,
// 150–210 B each; the coordinator observes three a task). The exposition is prom-client's own:
// this hands the registry the same values its Histogram would, so `/metrics` reads the same.
import type { Metric, Registry } from 'prom-client';

export interface BucketHistogramConfig {
  name: string;
  help: string;
  /** Upper bounds, ascending (seconds for a latency). */
  buckets: readonly number[];
  /** The one label that names a series; none: a single series, exposed from the start. */
  labelName?: string;
  registers: Registry[];
}

/** One labelled series of a BucketHistogram; `observe` adds a value. */
export class HistogramSeries {
  /** Non-cumulative: counts[i] holds the values in (bounds[i-1], bounds[i]]. */
  private readonly counts: Float64Array;
  sum = 0;
  count = 0;
  /** In the owner's `exposed` list. */
  listed = false;

  constructor(
    private readonly owner: BucketHistogram,
    /** The series' labels (one object, kept: the registry caches their text by identity). */
    readonly labels: Record<string, string>,
  ) {
    this.counts = new Float64Array(owner.bounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    // prom-client exposes a series from its first observation on, in that order.
    if (!this.listed) this.owner.list(this);
    const bounds = this.owner.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }

  /** The bucket, sum and count samples as prom-client's Histogram hands them to its registry. */
  samples(name: string, out: Sample[]): void {
    const bucket = `${name}_bucket`;
    const bounds = this.owner.bounds;
    let acc = 0;
    for (let i = 0; i < bounds.length; i++) {
      acc += this.counts[i]!;
      out.push(sample({ le: bounds[i]! }, acc, bucket, null, this.labels));
    }
    out.push(
      sample({ le: '+Inf' }, this.count, bucket, null, this.labels),
      sample({}, this.sum, `${name}_sum`, undefined, this.labels),
      sample({}, this.count, `${name}_count`, undefined, this.labels),
    );
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
    this.listed = false;
  }
}

interface Sample {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  exemplar: null | undefined;
}

function sample(
  labels: Record<string, string | number>,
  value: number,
  metricName: string,
  exemplar: null | undefined,
  sharedLabels: Record<string, string>,
): Sample {
  return { labels, sharedLabels, value, metricName, exemplar };
}

/**
 * A histogram of one label at most, registered like a prom-client metric. Look a series up once
 * (`labels`) and keep it: the lookup itself goes through a Map.
 */
export class BucketHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly bounds: Float64Array;
  /** Series with an observation (the unlabelled one always), in the order they got their first. */
  private exposed: HistogramSeries[] = [];
  private readonly labelName: string | undefined;
  private readonly series = new Map<string, HistogramSeries>();
  private readonly single: HistogramSeries | undefined;

  constructor(config: BucketHistogramConfig) {
    this.name = config.name;
    this.help = config.help;
    this.bounds = Float64Array.from(config.buckets);
    this.labelName = config.labelName;
    if (config.labelName === undefined) {
      this.single = new HistogramSeries(this, {});
      this.list(this.single);
    }
    // The registry reads a metric through get/getForPromString only; it is typed for its own classes.
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** Exposes `series` from now on, after those exposed before it. */
  list(series: HistogramSeries): void {
    series.listed = true;
    this.exposed.push(series);
  }

  /** Adds a value to the unlabelled histogram. */
  observe(value: number): void {
    if (this.single === undefined) throw new Error(`${this.name} has a label: observe through labels()`);
    this.single.observe(value);
  }

  /** The series of one label value (made on first use). */
  labels(value: string): HistogramSeries {
    if (this.labelName === undefined) throw new Error(`${this.name} has no label`);
    let s = this.series.get(value);
    if (s === undefined) {
      s = new HistogramSeries(this, { [this.labelName]: value });
      this.series.set(value, s);
    }
    return s;
  }

  /** What the registry formats for the text exposition (prom-client's shape). */
  getForPromString(): { name: string; help: string; type: string; values: Sample[]; aggregator: string } {
    const values: Sample[] = [];
    for (const s of this.exposed) s.samples(this.name, values);
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The JSON view (registry.getMetricsAsJSON): each sample's series labels folded into its own. */
  get(): {
    name: string;
    help: string;
    type: string;
    values: { value: number; metricName: string; labels: Record<string, string | number> }[];
    aggregator: string;
  } {
    const data = this.getForPromString();
    const values = data.values.map(({ sharedLabels, labels, ...rest }) => ({
      ...rest,
      labels: { ...labels, ...sharedLabels },
    }));
    return { ...data, values };
  }

  /** Forgets every observation (registry.resetMetrics); as prom-client's, no series is left exposed. */
  reset(): void {
    for (const s of this.exposed) s.reset();
    this.exposed = [];
  }
}
