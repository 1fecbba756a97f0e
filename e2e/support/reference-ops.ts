// Built-in op calls for the flows and their check: every output a tab returns is measured against
// the op's CPU reference from @flock/shaders with the op's own error bound (exact for integer ops).
import type { BuiltinOp, ErrorMeasure } from '@flock/shaders';
import { flockShaders } from './shaders.ts';

/** One built-in op call: its inputs (bytes by name) and JSON params. */
export interface OpCall {
  readonly op: BuiltinOp;
  readonly inputs: Readonly<Record<string, Uint8Array>>;
  readonly params: Readonly<Record<string, number>>;
}

/** A result as the REST API returns it (`GET /v1/tasks/:id/result`, JSON view). */
export interface ResultJson {
  executor?: string;
  outputs?: Array<{ name: string; inline_bytes?: string; uri?: string }>;
}

/** Deterministic pseudo-random f32s in [-1, 1) (mulberry32), so a failing call can be replayed. */
function floats(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  });
}

const bytes = (view: ArrayBufferView): Uint8Array =>
  new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

/** Four calls that cover elementwise, reduction, tiled and integer ops, small enough for SwiftShader. */
export function referenceCalls(seed = 8): OpCall[] {
  return [
    {
      op: 'saxpy',
      inputs: { x: bytes(floats(4096, seed)), y: bytes(floats(4096, seed + 1)) },
      params: { a: 1.5 },
    },
    { op: 'reduce_sum', inputs: { x: bytes(floats(10_000, seed + 2)) }, params: {} },
    {
      op: 'matmul',
      inputs: { a: bytes(floats(48 * 32, seed + 3)), b: bytes(floats(32 * 40, seed + 4)) },
      params: { m: 48, n: 40, k: 32 },
    },
    {
      op: 'prefix_sum',
      inputs: { values: bytes(Uint32Array.from({ length: 3000 }, (_, i) => (i * 7) % 13)) },
      params: {},
    },
  ];
}

/** The JSON view of a ComputeEnvelope for a call; `webgpu` makes the GPU a requirement. */
export function builtinEnvelope(
  taskId: string,
  call: OpCall,
  options: { webgpu: boolean },
): Record<string, unknown> {
  return {
    task_id: taskId,
    op: call.op,
    module: { kind: 'builtin' },
    requirements: { min: options.webgpu ? { webgpu: true } : { wasm: true } },
    inputs: Object.entries(call.inputs).map(([name, data]) => ({
      name,
      inline_bytes: Buffer.from(data).toString('base64'),
    })),
    params: call.params,
  };
}

/** Measures a result's outputs against the CPU reference; throws when an output is missing. */
export async function measureAgainstReference(call: OpCall, result: ResultJson): Promise<ErrorMeasure> {
  const shaders = await flockShaders();
  const prepared = shaders.getOp(call.op).prepare({ ...call.inputs }, call.params);
  const expected = await prepared.reference();
  const actual: Record<string, Uint8Array> = {};
  for (const name of Object.keys(expected)) {
    const output = result.outputs?.find((o) => o.name === name);
    if (output?.inline_bytes === undefined) {
      throw new Error(
        `${call.op}: no inline output "${name}" in ${JSON.stringify(result.outputs?.map((o) => o.name))}`,
      );
    }
    // A fresh, aligned copy: Node may hand out a pooled Buffer at any byte offset.
    actual[name] = Uint8Array.from(Buffer.from(output.inline_bytes, 'base64'));
  }
  return shaders.measureError(call.op, { ...call.inputs }, actual, expected);
}
