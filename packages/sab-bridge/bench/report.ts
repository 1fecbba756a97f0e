// Formats benchmark results as the markdown tables the README records.
import type { Results, Row } from './core.ts';

const f = (n: number, d = 2): string => n.toFixed(d);

function table(rows: Row[], bulk: boolean): string {
  const head = bulk
    ? '| 1 MiB hand-off | one: median µs | one: p99 µs | stream, 4 in flight, best of 7: MiB/s |'
    : '| 64 B round trip | median µs | p99 µs |';
  const sep = bulk ? '|---|---:|---:|---:|' : '|---|---:|---:|';
  const body = rows.map((r) =>
    bulk
      ? `| ${r.name} | ${f(r.medianUs, 1)} | ${f(r.p99Us, 1)} | ${f(r.mibPerS ?? 0, 0)} |`
      : `| ${r.name} | ${f(r.medianUs)} | ${f(r.p99Us)} |`,
  );
  return [head, sep, ...body].join('\n');
}

export function formatResults(r: Results): string {
  const w = r.workload;
  return [
    `\n### ${r.env}\n`,
    table(r.roundTrip, false),
    '',
    table(r.bulk, true),
    '',
    '| ratio | value |',
    '|---|---:|',
    ...Object.entries(r.ratios).map(([k, v]) => `| ${k} | ${f(v)} |`),
    '',
    `Mixed workload (${w.jobs} jobs, ${w.allocations} allocations, ${w.arenaBytes >> 20} MiB arena): ` +
      `efficiency ${f(w.efficiency * 100)} % (min ${f(w.minEfficiency * 100)} %), plain buddy rounding ` +
      `${f(w.buddyOnlyEfficiency * 100)} %, mean fragmentation ${f(w.meanFragmentation * 100)} %, ` +
      `${w.failures} failed allocations, peak reserved ${f(w.peakReservedBytes / 2 ** 20, 1)} MiB, ` +
      `${f(w.zeroedBytes / 2 ** 30)} GiB zeroed between tasks, ${f(w.nsPerAllocFree / 1000)} µs per alloc + free.`,
  ].join('\n');
}
