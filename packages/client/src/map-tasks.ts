import type { ComputeResult, DataRef, JsonObject, ModuleSpec, Requirements } from '@flock/protocol';
import type { FlockClient } from './flock-client.ts';
import { FlockError } from './flock-error.ts';
import { randomId } from './random-id.ts';

/** One item of `map`: bytes or text become one input named `inputName`; a DataRef list is used as is. */
export type MapInput = Uint8Array | string | DataRef[];

export interface MapOptions {
  /** Tasks unfinished at once, 1..256; default 4. */
  concurrency?: number;
  /** Envelope `op`; default `"map"` (builtin modules: the kernel name is required here). */
  op?: string;
  params?: JsonObject;
  /**
   * Default: wasm `{ min: { wasm: true } }`; wgsl `{ min: { webgpu: true } }`; builtin
   * `{ min: { wasm: true }, preferred: { webgpu: true } }` (built-in ops fall back to WASM/JS).
   */
  requirements?: Requirements;
  /** Campaign all tasks join; default `map-<16 hex>`. Task ids are `<campaignId>-<index>`. */
  campaignId?: string;
  /** Name of the input made from a bytes/text item; default `"input"`. */
  inputName?: string;
  /** Content type of bytes items; default `application/octet-stream` (text: `text/plain`). */
  contentType?: string;
  /** Called after every submission and every finished task. */
  onProgress?: (progress: MapProgress) => void;
  /** Aborting stops submitting, cancels the unfinished tasks and rejects with `ABORTED`. */
  signal?: AbortSignal;
  /** Poll interval handed to each task's watch (ms). */
  pollMs?: number;
  /**
   * A W3C `traceparent` every task joins; without one they share their campaign's own trace id
   * (see `SubmitOptions.traceparent`).
   */
  traceparent?: string | undefined;
}

/** Counts of a running `map`; `done = succeeded + failed + cancelled`. */
export interface MapProgress {
  total: number;
  submitted: number;
  inFlight: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  done: number;
}

/** How one input ended. `result` is set when it succeeded, `failure` when it failed. */
export interface MapOutcome {
  index: number;
  taskId: string;
  state: 'succeeded' | 'failed' | 'cancelled';
  result?: ComputeResult;
  failure?: { code: string; message: string };
}

export async function mapTasks(
  client: FlockClient,
  module: ModuleSpec | Uint8Array,
  inputs: readonly MapInput[],
  options: MapOptions,
): Promise<MapOutcome[]> {
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new FlockError('INVALID_ARGUMENT', `concurrency must be an integer in 1..256, got ${concurrency}`);
  }
  const spec = module instanceof Uint8Array ? await client.moduleSpec(module, 'wasm') : module;
  if (spec.kind === 'builtin' && options.op === undefined) {
    throw new FlockError('INVALID_ARGUMENT', 'a builtin module needs options.op (the kernel name)');
  }
  const campaignId = options.campaignId ?? `map-${randomId()}`;
  const requirements = options.requirements ?? defaultRequirements(spec.kind);
  const progress: MapProgress = {
    total: inputs.length,
    submitted: 0,
    inFlight: 0,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    done: 0,
  };
  const report = (): void => options.onProgress?.({ ...progress });
  const outcomes: MapOutcome[] = new Array(inputs.length);
  const unfinished = new Set<string>();
  let nextIndex = 0;

  const runOne = async (index: number): Promise<void> => {
    const taskId = `${campaignId}-${index}`;
    const task = await client.submit(
      {
        task_id: taskId,
        op: options.op ?? 'map',
        module: spec,
        requirements,
        inputs: toDataRefs(inputs[index]!, options),
        ...(options.params === undefined ? {} : { params: options.params }),
        campaign_id: campaignId,
      },
      { traceparent: options.traceparent },
    );
    unfinished.add(taskId);
    progress.submitted += 1;
    progress.inFlight += 1;
    report();
    const view = await task.wait({
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
    });
    unfinished.delete(taskId);
    progress.inFlight -= 1;
    const outcome: MapOutcome = { index, taskId, state: view.state as MapOutcome['state'] };
    if (view.state === 'succeeded') {
      outcome.result = await client.fetchResult(taskId);
      progress.succeeded += 1;
    } else if (view.state === 'failed') {
      outcome.failure = view.failure ?? { code: 'EXECUTION_ERROR', message: 'the task failed' };
      progress.failed += 1;
    } else {
      progress.cancelled += 1;
    }
    progress.done += 1;
    outcomes[index] = outcome;
    report();
  };

  const lane = async (): Promise<void> => {
    while (nextIndex < inputs.length) {
      if (options.signal?.aborted === true) return;
      const index = nextIndex;
      nextIndex += 1;
      await runOne(index);
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, inputs.length) }, lane));
  } catch (error) {
    await Promise.allSettled([...unfinished].map((id) => client.cancelTask(id)));
    if (options.signal?.aborted === true) {
      throw new FlockError('ABORTED', `map of campaign ${campaignId} aborted`, { cause: error });
    }
    throw error;
  }
  if (options.signal?.aborted === true)
    throw new FlockError('ABORTED', `map of campaign ${campaignId} aborted`);
  return outcomes;
}

function defaultRequirements(kind: ModuleSpec['kind']): Requirements {
  switch (kind) {
    case 'wgsl':
      return { min: { webgpu: true } };
    case 'builtin':
      return { min: { wasm: true }, preferred: { webgpu: true } };
    default:
      return { min: { wasm: true } };
  }
}

/** The inputs of one task made from one `map` item. */
export function toDataRefs(
  item: MapInput,
  options: Pick<MapOptions, 'inputName' | 'contentType'> = {},
): DataRef[] {
  const name = options.inputName ?? 'input';
  if (Array.isArray(item)) return item;
  if (typeof item === 'string') {
    return [
      { name, content_type: 'text/plain; charset=utf-8', inline_bytes: new TextEncoder().encode(item) },
    ];
  }
  return [{ name, content_type: options.contentType ?? 'application/octet-stream', inline_bytes: item }];
}
