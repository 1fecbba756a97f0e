// `flock workflow run <pipeline.json|-> [--wait]` and `flock workflow status <workflow_id>`.
// JSON only: no YAML parser is among the workspace's dependencies.
import { parseJsonObject } from '@flock/protocol';
import type { WorkflowView } from '../workflow.ts';
import type { Command } from './commands.ts';
import { EXIT, UsageError } from './exit-codes.ts';
import { table } from './format.ts';
import type { CliIo, CliValues } from './main.ts';

const USAGE = 'usage: flock workflow run <pipeline.json|-> [--wait] | flock workflow status <workflow_id>';

export const workflow: Command = async (context) => {
  const { client, io, values, args, readInput } = context;
  const [sub, target, ...rest] = args;
  if (target === undefined || rest.length > 0) throw new UsageError(USAGE);
  if (sub === 'status') {
    const view = await client.getWorkflow(target);
    printWorkflow(io, values, view);
    return exitFor(view);
  }
  if (sub !== 'run') throw new UsageError(USAGE);
  if (/\.ya?ml$/i.test(target))
    throw new UsageError('YAML pipelines are not supported yet: write it as JSON');
  const text = await readInput(target);
  // The coordinator checks the definition and names the field at fault; here only its size.
  const handle = await client.workflow(parseJsonObject(text, { maxBytes: 16 << 20, maxDepth: 128 }, '$'));
  if (values.wait !== true) {
    printWorkflow(io, values, await handle.status());
    return EXIT.ok;
  }
  const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0))
    throw new UsageError(`--timeout must be a positive integer (ms), got "${values.timeout}"`);
  for await (const event of handle.events(
    timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(timeoutMs) },
  )) {
    const step = event.payload.step as { id?: string; state?: string } | undefined;
    if (values.json !== true && step) io.stderr(`${step.id}: ${step.state}\n`);
  }
  const view = await handle.status();
  printWorkflow(io, values, view);
  return exitFor(view);
};

const exitFor = (view: WorkflowView): number =>
  view.state === 'succeeded' || view.state === 'running' ? EXIT.ok : EXIT.taskFailed;

function printWorkflow(io: CliIo, values: CliValues, view: WorkflowView): void {
  if (values.json === true) {
    io.stdout(`${JSON.stringify(view, null, 2)}\n`);
    return;
  }
  const detail = view.code === undefined ? '' : `  ${view.code}: ${view.message ?? ''}`;
  io.stdout(`${view.workflow_id}  ${view.state}${detail}\n`);
  const steps = view.steps ?? [];
  if (steps.length === 0) return;
  const rows = steps.map((s) => [
    s.id,
    s.state,
    String(s.task_ids.length),
    s.started_at_ms !== undefined && s.finished_at_ms !== undefined
      ? `${s.finished_at_ms - s.started_at_ms}`
      : '',
    s.code ?? '',
  ]);
  io.stdout(table(['STEP', 'STATE', 'TASKS', 'MS', 'CODE'], rows));
}
