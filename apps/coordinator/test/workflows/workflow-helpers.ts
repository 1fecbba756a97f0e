// Shared by the workflow tests: a steerable runner for simulated volunteers and step builders.
import { type SimRunner, sumRunner } from '../../src/sim/runners.ts';

/**
 * Sums input bytes (sumRunner), with params that steer it: `fail` fails the task, `fail_unless`
 * fails it unless its task id ends so, `hang` runs until cancelled, `list: n` adds an output
 * `list` holding the JSON list [0..n-1].
 */
export const stepRunner: SimRunner = async (job) => {
  const params = (job.assignment.envelope?.params ?? {}) as Record<string, unknown>;
  const taskId = job.assignment.task_id ?? '';
  const unless = params.fail_unless;
  if (params.fail === true || (typeof unless === 'string' && !taskId.endsWith(unless)))
    return { failure: { code: 'BOOM', message: `${taskId} asked to fail`, retryable: false } };
  if (params.hang === true) {
    await new Promise((resolve) => job.signal.addEventListener('abort', resolve));
    return { failure: { code: 'CANCELLED', message: 'cancelled', retryable: false } };
  }
  const out = await sumRunner(job);
  if ('failure' in out || typeof params.list !== 'number') return out;
  const list = Array.from({ length: params.list }, (_, i) => i);
  return {
    ...out,
    outputs: [
      ...out.outputs,
      { name: 'list', content_type: 'application/json', inline_json: JSON.stringify(list) },
    ],
  };
};

export const STEP_TASK = { op: 'sum', module: { kind: 'builtin' }, requirements: { min: { wasm: true } } };
export const BYTES = { name: 'x', inline_bytes: Buffer.from([1, 2, 3, 4]).toString('base64') };
export const step = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  ...STEP_TASK,
  inputs: [BYTES],
  ...extra,
});
