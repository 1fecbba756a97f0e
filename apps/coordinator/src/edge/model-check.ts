// The model of an ml.* task, checked at submit: `params.model` must name an uploaded ONNX model
// (400 UNKNOWN_MODEL), and a task that must run on WebGPU (`execution: "webgpu"`) asks for a GPU
// whose storage buffers can hold the model's largest weight tensor
// (`requirements.min.gpu.limits maxStorageBufferBindingSize`), so a tab whose adapter cannot bind
// it never gets the task. The sizes are read once per model (content-addressed, so never stale).
import type { ComputeEnvelope, GPUDescriptor } from '@flock/protocol';
import { CoordinatorError } from '../errors.ts';
import type { ApiContext } from './http-util.ts';
import { modelOf } from './op-check.ts';

/** The WebGPU limit a model's largest weight must fit. */
export const MODEL_BUFFER_LIMIT = 'maxStorageBufferBindingSize';

const KEPT = 256;
const largestTensor = new Map<string, number>();

async function largestTensorOf(ctx: ApiContext, name: string): Promise<number> {
  let bytes = largestTensor.get(name);
  if (bytes === undefined) {
    const model = ctx.coordinator.blobs.read(name.slice('sha256:'.length));
    const { readOnnxInfo } = await import('@flock/libraries/models');
    // Checked at upload; a file gone since (never, for a recorded model) asks for nothing.
    bytes = model ? readOnnxInfo(model).largestTensorBytes : 0;
    largestTensor.set(name, bytes);
    while (largestTensor.size > KEPT) largestTensor.delete(largestTensor.keys().next().value!);
  }
  return bytes;
}

/** `gpu` with its `name` limit raised to at least `value` (the larger of both when both ask). */
function withLimit(gpu: GPUDescriptor | undefined, name: string, value: number): GPUDescriptor {
  const limits = gpu?.limits ?? [];
  const asked = limits.find((l) => l.name === name)?.value ?? 0;
  const others = limits.filter((l) => l.name !== name);
  return { ...gpu, limits: [...others, { name, value: Math.max(asked, value) }] };
}

/** Checks an ml.* task's `params.model` (reported on `field`); other tasks pass unchanged. */
export async function checkModel(ctx: ApiContext, envelope: ComputeEnvelope, field: string): Promise<void> {
  const name = modelOf(envelope);
  if (name === undefined) return;
  if (!(await ctx.coordinator.store.isModel(name))) {
    throw new CoordinatorError(
      'UNKNOWN_MODEL',
      `model flock:${name} was not uploaded (POST /v1/modules with Content-Type application/onnx)`,
      field,
    );
  }
  if (envelope.params?.['execution'] !== 'webgpu') return;
  const largest = await largestTensorOf(ctx, name);
  if (largest === 0) return;
  envelope.requirements ??= {};
  const min = envelope.requirements.min ?? {};
  envelope.requirements.min = { ...min, gpu: withLimit(min.gpu, MODEL_BUFFER_LIMIT, largest) };
}
