// A small WGSL task with an exact answer (dst[i] = 2·src[i] + 1), for flows that check where
// WebGPU work runs and that it comes back right.
const DOUBLE_SHADER = `@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < arrayLength(&src)) { dst[id.x] = src[id.x] * 2u + 1u; }
}
`;

/** The JSON view of an envelope doubling `0..n-1`; `requirements` default to `min.webgpu`. */
export function doubleShaderTask(
  taskId: string,
  n: number,
  requirements: Record<string, unknown> = { min: { webgpu: true } },
): Record<string, unknown> {
  const src = Uint32Array.from({ length: n }, (_, i) => i);
  const b64 = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64');
  return {
    task_id: taskId,
    op: 'double',
    module: { kind: 'wgsl', inline: b64(DOUBLE_SHADER), entry: 'main', workgroups: [Math.ceil(n / 64)] },
    requirements,
    inputs: [{ name: 'src', inline_bytes: b64(new Uint8Array(src.buffer)) }],
    buffers: [
      { name: 'src', group: 0, binding: 0, access: 'read' },
      { name: 'dst', group: 0, binding: 1, access: 'read_write', size: n * 4 },
    ],
  };
}

/** What the `dst` output of `doubleShaderTask(_, n)` must hold. */
export function doubleShaderAnswer(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i * 2 + 1);
}

/** An output's bytes as u32s (copied: a pooled Buffer may sit at any byte offset). */
export function u32s(bytes: Uint8Array): number[] {
  return [...new Uint32Array(Uint8Array.from(bytes).buffer)];
}

/**
 * The JSON view of the built-in `saxpy` (`out = a·x + y`) on a WebGPU slot; `x` and `y` are
 * float32 values sent inline, or the uris of uploaded blobs.
 */
export function saxpyTask(
  taskId: string,
  x: Float32Array | string,
  y: Float32Array | string,
  a: number,
): Record<string, unknown> {
  const input = (name: string, value: Float32Array | string) =>
    typeof value === 'string'
      ? { name, uri: value }
      : {
          name,
          inline_bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'),
        };
  return {
    task_id: taskId,
    op: 'saxpy',
    module: { kind: 'builtin' },
    requirements: { min: { webgpu: true } },
    inputs: [input('x', x), input('y', y)],
    params: { a },
  };
}
