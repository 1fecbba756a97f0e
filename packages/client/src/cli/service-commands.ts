// `flock stats` (with each op's service level) and `flock breakers [reset <op>]`.
import type { BreakerView, OpLevelView } from '../api-types.ts';
import { formatSuccessRate, formatWindow, sloTargetsText, violationsText } from '../service-level-text.ts';
import type { Command } from './commands.ts';
import { EXIT, UsageError } from './exit-codes.ts';
import { none, table } from './format.ts';

const OPS_HEAD = ['OP', 'TASKS', 'SUCCEEDED', 'FAILED', 'SUCCESS', 'P50 MS', 'P95 MS', 'MISSES'];
const BREAKERS_HEAD = ['OP', 'STATE', 'FAILED ON', 'LAST CODE', 'HELD', 'RETRY AT'];

export const stats: Command = async ({ client, io, values, args }) => {
  none(args, 'stats');
  const s = await client.stats();
  if (values.json === true) {
    io.stdout(`${JSON.stringify(s, null, 2)}\n`);
    return EXIT.ok;
  }
  io.stdout(
    `queue ${s.queue_depth}${s.queued_in_store > 0 ? ` (${s.queued_in_store} in the store)` : ''}  running ${s.running}  workers ${s.workers}  ${s.throughput_per_min}/min\n` +
      `latency p50 ${s.latency_ms.p50} ms  p95 ${s.latency_ms.p95} ms  p99 ${s.latency_ms.p99} ms\n` +
      `${sloTargetsText(s.slo)}\n`,
  );
  io.stdout(
    s.ops.length === 0
      ? `no finished tasks in the last ${formatWindow(s.slo.window_ms)}\n`
      : table(OPS_HEAD, s.ops.map(opRow)),
  );
  return EXIT.ok;
};

/** `flock breakers`: this tenant's breakers; `flock breakers reset <op>`: close one. */
export const breakers: Command = async ({ client, io, values, args }) => {
  const [sub, op, ...rest] = args;
  if (sub === 'reset') {
    if (op === undefined || op === '' || rest.length > 0)
      throw new UsageError('usage: flock breakers reset <op>');
    const closed = await client.resetBreaker(op);
    io.stdout(
      values.json === true
        ? `${JSON.stringify(closed, null, 2)}\n`
        : `breaker of ${closed.op} ${closed.state}: its held tasks are queued again\n`,
    );
    return EXIT.ok;
  }
  if (sub !== undefined) throw new UsageError('usage: flock breakers [reset <op>]');
  const list = await client.breakers();
  if (values.json === true) {
    io.stdout(`${JSON.stringify({ breakers: list }, null, 2)}\n`);
    return EXIT.ok;
  }
  io.stdout(list.length === 0 ? 'no breakers\n' : table(BREAKERS_HEAD, list.map(breakerRow)));
  return EXIT.ok;
};

function opRow(l: OpLevelView): string[] {
  return [
    l.op,
    String(l.count),
    String(l.succeeded),
    String(l.failed),
    formatSuccessRate(l.success_rate),
    String(l.p50_ms),
    String(l.p95_ms),
    violationsText(l),
  ];
}

function breakerRow(b: BreakerView): string[] {
  return [
    b.op,
    b.state,
    String(b.failed_workers),
    b.last_code || '-',
    String(b.held_tasks),
    b.retry_at_ms === undefined ? '-' : new Date(b.retry_at_ms).toISOString(),
  ];
}
