// `flock audit` (the audit log of a task, campaign or tenant) and `flock replay` (re-run recorded
// tasks and compare their output hashes with the originals').
import type { AuditEntry, AuditQuery, ReplaySource, ReplayStatus } from '../audit-types.ts';
import { FlockError } from '../flock-error.ts';
import type { Command } from './commands.ts';
import { EXIT, UsageError } from './exit-codes.ts';
import { table } from './format.ts';

const AUDIT_HEAD = ['TIME', 'TASK', 'TRANSITION', 'CODE', 'ATTEMPT', 'WORKER', 'ENVIRONMENT', 'OUTPUT'];
const REPLAY_USAGE =
  'usage: flock replay --task ID | --campaign ID | --workflow ID [--wait] | replay status <id>';
const POLL_MS = 250;

/** `flock audit [--task ID | --campaign ID] [--since TIME] [--tenant T]`: every matching row. */
export const audit: Command = async ({ client, io, values, args }) => {
  if (args.length > 0) throw new UsageError('usage: flock audit [--task ID | --campaign ID] [--since TIME]');
  const query: AuditQuery = { limit: 1000 };
  if (values.task !== undefined) query.task_id = values.task;
  if (values.campaign !== undefined) query.campaign_id = values.campaign;
  if (values.since !== undefined) query.since = values.since;
  if (values.tenant !== undefined) query.tenant = values.tenant;
  const entries: AuditEntry[] = [];
  for (let after: string | undefined; ; ) {
    const page = await client.audit(after === undefined ? query : { ...query, after });
    entries.push(...page.entries);
    after = page.next;
    if (after === undefined) break;
  }
  if (values.json === true) io.stdout(`${JSON.stringify({ entries }, null, 2)}\n`);
  else io.stdout(entries.length === 0 ? 'no audit rows\n' : table(AUDIT_HEAD, entries.map(auditRow)));
  return EXIT.ok;
};

function auditRow(e: AuditEntry): string[] {
  const w = e.worker;
  const gpu = w?.adapter ? `${w.adapter.vendor}/${w.adapter.architecture}` : undefined;
  const env = w ? [w.browser, w.os, gpu].filter((x) => x !== null && x !== undefined).join(', ') : '';
  return [
    e.ts,
    e.task_id,
    `${e.from ?? '-'} > ${e.to}`,
    e.code ?? '-',
    e.attempt === null ? '-' : String(e.attempt),
    w?.id ?? '-',
    env || '-',
    e.output_hash === null ? '-' : `${e.output_hash.slice(0, 19)}…`,
  ];
}

function replaySource(values: { task?: string; campaign?: string; workflow?: string }): ReplaySource {
  const named = [
    values.task === undefined ? [] : [{ task_id: values.task }],
    values.campaign === undefined ? [] : [{ campaign_id: values.campaign }],
    values.workflow === undefined ? [] : [{ workflow_id: values.workflow }],
  ].flat();
  if (named.length !== 1) throw new UsageError(REPLAY_USAGE);
  return named[0]!;
}

/**
 * `flock replay --task ID | --campaign ID | --workflow ID`: prints the replay's pairs; `--wait`
 * follows it and exits 1 unless every replayed output equals the original's. `replay status <id>`.
 */
export const replay: Command = async ({ client, io, values, args }) => {
  const [sub, id, ...extra] = args;
  let status: ReplayStatus;
  if (sub === 'status') {
    if (id === undefined || id === '' || extra.length > 0) throw new UsageError(REPLAY_USAGE);
    status = await client.replayStatus(id);
  } else {
    if (sub !== undefined) throw new UsageError(REPLAY_USAGE);
    const made = await client.replay(replaySource(values));
    if (values.wait !== true) {
      io.stdout(
        values.json === true
          ? `${JSON.stringify(made, null, 2)}\n`
          : `${made.replay_id}\n${made.pairs.map((p) => `  ${p.original} -> ${p.replay}\n`).join('')}`,
      );
      return EXIT.ok;
    }
    status = await waitDone(client, made.replay_id, values.timeout);
  }
  if (values.json === true) io.stdout(`${JSON.stringify(status, null, 2)}\n`);
  else {
    const rows = status.pairs.map((p) => [
      p.original.task_id,
      p.replay.task_id,
      p.replay.state,
      p.equal === null ? '-' : p.equal ? 'equal' : 'DIFFERS',
    ]);
    io.stdout(`${status.replay_id}\n${table(['ORIGINAL', 'REPLAY', 'STATE', 'OUTPUT'], rows)}`);
  }
  return status.done && !status.equal ? EXIT.taskFailed : EXIT.ok;
};

async function waitDone(
  client: Parameters<Command>[0]['client'],
  replayId: string,
  timeout: string | undefined,
): Promise<ReplayStatus> {
  const timeoutMs = timeout === undefined ? undefined : Number(timeout);
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0))
    throw new UsageError(`--timeout must be a positive integer (ms), got "${timeout}"`);
  const end = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
  for (;;) {
    const status = await client.replayStatus(replayId);
    if (status.done) return status;
    if (Date.now() > end)
      throw new FlockError(
        'WAIT_TIMEOUT',
        `replay ${replayId} did not end within ${timeoutMs} ms (it goes on)`,
      );
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
