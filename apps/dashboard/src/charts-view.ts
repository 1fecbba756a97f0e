import type { FlockClient, StatsView } from '@flock/client';
import uPlot from 'uplot';
import { h, replace } from './dom.ts';
import { describeError } from './error-text.ts';

/** Samples of `/v1/stats` kept in the tab (one per poll), shared by the chart page and the header. */
export class StatsHistory {
  readonly times: number[] = [];
  readonly throughput: number[] = [];
  readonly queue: number[] = [];
  readonly running: number[] = [];
  readonly p50: number[] = [];
  readonly p95: number[] = [];
  readonly p99: number[] = [];
  latest: StatsView | undefined;
  /** The last poll's error, cleared by the next good one. */
  lastError: unknown;
  readonly #limit: number;

  constructor(limit = 300) {
    this.#limit = limit;
  }

  /** Polls `/v1/stats` every `everyMs` until the returned function is called. */
  poll(client: FlockClient, everyMs = 2000): () => void {
    const once = (): void => {
      client
        .stats()
        .then((stats) => {
          this.lastError = undefined;
          this.push(stats);
        })
        .catch((error: unknown) => {
          this.lastError = error;
        });
    };
    once();
    const timer = setInterval(once, everyMs);
    return () => clearInterval(timer);
  }

  push(stats: StatsView, atMs = Date.now()): void {
    this.latest = stats;
    const series: Array<[number[], number]> = [
      [this.times, atMs / 1000],
      [this.throughput, stats.throughput_per_min],
      [this.queue, stats.queue_depth],
      [this.running, stats.running],
      [this.p50, stats.latency_ms.p50],
      [this.p95, stats.latency_ms.p95],
      [this.p99, stats.latency_ms.p99],
    ];
    for (const [array, value] of series) {
      array.push(value);
      if (array.length > this.#limit) array.shift();
    }
  }
}

const COLORS = { blue: '#2f6fde', orange: '#e8833a', green: '#2e9e5b', purple: '#8a4fd8', red: '#d64545' };

/** Throughput, queue depth and latency percentiles over time (uPlot), from the polled history. */
export function renderCharts(app: HTMLElement, history: StatsHistory): () => void {
  const cards = h('div', { class: 'stat-cards', id: 'stat-cards' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const holders = [
    h('div', { class: 'chart', id: 'chart-throughput' }),
    h('div', { class: 'chart', id: 'chart-queue' }),
    h('div', { class: 'chart', id: 'chart-latency' }),
  ];
  replace(
    app,
    h('section', { class: 'card' }, h('h1', {}, 'Throughput, queue and latency'), error, cards, ...holders),
  );
  const width = (): number => Math.max(320, Math.min(1100, app.clientWidth - 48));
  const axes = (label: string): uPlot.Axis[] => [{}, { label, size: 56 }];
  const charts = [
    new uPlot(
      {
        title: 'Throughput (tasks / min)',
        width: width(),
        height: 200,
        series: [
          {},
          { label: 'finished / min', stroke: COLORS.green, width: 2, fill: 'rgba(46,158,91,0.08)' },
        ],
        axes: axes('tasks/min'),
      },
      [history.times, history.throughput],
      holders[0]!,
    ),
    new uPlot(
      {
        title: 'Queue depth and running tasks',
        width: width(),
        height: 200,
        series: [
          {},
          { label: 'queued', stroke: COLORS.orange, width: 2 },
          { label: 'running', stroke: COLORS.blue, width: 2 },
        ],
        axes: axes('tasks'),
      },
      [history.times, history.queue, history.running],
      holders[1]!,
    ),
    new uPlot(
      {
        title: 'Latency, submit to result (ms)',
        width: width(),
        height: 200,
        series: [
          {},
          { label: 'p50', stroke: COLORS.green, width: 2 },
          { label: 'p95', stroke: COLORS.purple, width: 2 },
          { label: 'p99', stroke: COLORS.red, width: 2 },
        ],
        axes: axes('ms'),
      },
      [history.times, history.p50, history.p95, history.p99],
      holders[2]!,
    ),
  ];
  const draw = (): void => {
    charts[0]!.setData([history.times, history.throughput]);
    charts[1]!.setData([history.times, history.queue, history.running]);
    charts[2]!.setData([history.times, history.p50, history.p95, history.p99]);
    const s = history.latest;
    if (s === undefined) return;
    replace(
      cards,
      statCard('Queue depth', s.queue_depth, 'queue_depth'),
      statCard('Running', s.running, 'running'),
      statCard('Workers', s.workers, 'workers'),
      statCard('Throughput', `${s.throughput_per_min}/min`, 'throughput'),
      statCard(
        'Latency p50 / p95 / p99',
        `${s.latency_ms.p50} / ${s.latency_ms.p95} / ${s.latency_ms.p99} ms`,
        'latency',
      ),
    );
  };
  const redraw = (): void => {
    error.hidden = history.lastError === undefined;
    if (history.lastError !== undefined) error.textContent = describeError(history.lastError);
    draw();
  };
  redraw();
  const timer = setInterval(redraw, 1000);
  const onResize = (): void => {
    for (const chart of charts) chart.setSize({ width: width(), height: 200 });
  };
  window.addEventListener('resize', onResize);
  return () => {
    clearInterval(timer);
    window.removeEventListener('resize', onResize);
    for (const chart of charts) chart.destroy();
  };
}

function statCard(label: string, value: string | number, key: string): HTMLElement {
  return h('div', { class: 'stat', 'data-stat': key }, h('span', {}, label), h('b', {}, value));
}
