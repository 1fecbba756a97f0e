// `flock workflow run <pipeline.json|pipeline.yaml|-> [--wait]` and `flock workflow status <workflow_id>`.
import { parseJsonObject } from '@flock/protocol';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { FlockError } from '../flock-error.ts';
import type { WorkflowView } from '../workflow.ts';
import type { Command } from './commands.ts';
import { EXIT, UsageError } from './exit-codes.ts';
import { table } from './format.ts';
import type { CliIo, CliValues } from './main.ts';

const USAGE =
  'usage: flock workflow run <pipeline.json|pipeline.yaml|-> [--wait] | flock workflow status <workflow_id>';
const MAX_PIPELINE_BYTES = 16 << 20;

/**
 * A pipeline file as the JSON object the coordinator takes: JSON, or YAML (`.yaml`/`.yml`, the
 * core schema: no dates or custom tags, aliases bounded, duplicate keys refused) turned into JSON.
 * The coordinator checks the definition itself and names the field at fault.
 */
function readPipeline(target: string, text: string): ReturnType<typeof parseJsonObject> {
  if (!/\.ya?ml$/i.test(target))
    return parseJsonObject(text, { maxBytes: MAX_PIPELINE_BYTES, maxDepth: 128 }, '$');
  let value: unknown;
  try {
    value = parseYaml(text, { schema: 'core', maxAliasCount: 100, uniqueKeys: true });
  } catch (error) {
    if (error instanceof YAMLParseError) throw new UsageError(`${target}: ${error.message.split('\n')[0]}`);
    throw error;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError(`${target}: a pipeline is a mapping with workflow_id and steps`);
  return parseJsonObject(JSON.stringify(value), { maxBytes: MAX_PIPELINE_BYTES, maxDepth: 128 }, '$');
}

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
  const handle = await client.workflow(readPipeline(target, await readInput(target)));
  if (values.wait !== true) {
    printWorkflow(io, values, await handle.status());
    return EXIT.ok;
  }
  const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0))
    throw new UsageError(`--timeout must be a positive integer (ms), got "${values.timeout}"`);
  const signal = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
  try {
    for await (const event of handle.events(signal === undefined ? {} : { signal })) {
      const step = event.payload.step as { id?: string; state?: string } | undefined;
      if (values.json !== true && step) io.stderr(`${step.id}: ${step.state}\n`);
    }
  } catch (error) {
    // As for tasks: exit 6, not the 1 of a failed workflow.
    if (signal?.aborted === true)
      throw new FlockError(
        'WAIT_TIMEOUT',
        `workflow ${handle.id} did not end within ${timeoutMs} ms (it goes on)`,
      );
    throw error;
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
