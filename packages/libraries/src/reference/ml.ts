// ml.* in Node: onnxruntime-node (native ONNX Runtime, CPU provider), for the tests and the
// coordinator's known-answer checks. The same job code as the tab binds inputs and shapes outputs.
import { LibraryError } from '../library-error.ts';
import type { CheckedCall } from '../registry.ts';
import { type LoadedModel, modelLabels, ortError, runMlCall } from '../runtime/ml-job.ts';
import type { LibraryInput, LibraryResult } from '../runtime/runtime.ts';

/** The model's bytes by hash (`sha256:<hex>`): the coordinator's blob store, or a test's map. */
export type ModelSource = (hash: string) => Uint8Array | undefined | Promise<Uint8Array | undefined>;

const KEPT = 8;
const sessions = new Map<string, Promise<LoadedModel>>();

async function load(hash: string, models: ModelSource): Promise<LoadedModel> {
  const bytes = await models(hash);
  if (!bytes) throw new LibraryError('INVALID_PARAMS', `no model ${hash} is stored`, 'params.model');
  const ort = await import('onnxruntime-node');
  const labels = modelLabels(bytes);
  try {
    return { session: await ort.InferenceSession.create(bytes), labels };
  } catch (error) {
    throw ortError(error, 'load');
  }
}

export async function runMlReference(
  call: CheckedCall,
  inputs: LibraryInput[],
  models: ModelSource,
): Promise<LibraryResult> {
  const hash = (call.params['model'] as string).slice('flock:'.length);
  let loading = sessions.get(hash);
  if (!loading) {
    loading = load(hash, models);
    loading.catch(() => sessions.delete(hash));
    sessions.set(hash, loading);
    while (sessions.size > KEPT) sessions.delete(sessions.keys().next().value!);
  }
  const ort = await import('onnxruntime-node');
  const result = await runMlCall(call, await loading, inputs, ort as never);
  return { ...result, summary: { ...result.summary, execution_provider: 'onnxruntime-node' } };
}
