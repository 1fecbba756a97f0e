// An input of a job as the host copies it into the job's region: its length known first (so the
// region can be reserved), then filled once, from the frame, the text, or streamed from the
// network, with a hash check where the input names one.
import { countCopy } from './copy-meter.ts';
import { ExecutorError } from './executor-error.ts';
import type { PreparedJob } from './job-builder.ts';
import { verifyModuleHash } from './module-hash.ts';

/** An input with its length known, ready to be copied into its region. */
export interface SizedInput {
  length: number;
  /** Copies the input into `region`; resolves with the ms spent copying (not waiting for the network). */
  fill(region: Uint8Array): Promise<number>;
  /** The region was not reserved after all: drop what was opened. */
  discard(): void;
}

const encoder = new TextEncoder();

export async function sized(input: PreparedJob['inputs'][number]): Promise<SizedInput> {
  if (input.bytes) {
    const bytes = input.bytes;
    return {
      length: bytes.byteLength,
      fill: async (region) => {
        const started = performance.now();
        region.set(bytes);
        const ms = performance.now() - started;
        countCopy('in:frame-to-region', bytes.byteLength);
        if (input.hash) await verifyModuleHash(region, input.hash, 'input');
        return ms;
      },
      discard: () => undefined,
    };
  }
  if (input.text !== undefined) {
    const text = input.text;
    const length = encoder.encode(text).byteLength;
    return {
      length,
      fill: async (region) => {
        const started = performance.now();
        encoder.encodeInto(text, region);
        countCopy('in:text-to-region', length);
        return performance.now() - started;
      },
      discard: () => undefined,
    };
  }
  const response = await input.open!();
  if (!response.ok)
    throw new ExecutorError('EXECUTION_ERROR', `input ${input.name}: HTTP ${response.status}`, true);
  const length = Number(response.headers.get('content-length') ?? Number.NaN);
  if (!Number.isInteger(length) || !response.body) {
    // No declared length (not the coordinator's blobs): read it whole, then copy it in.
    const { open: _open, ...rest } = input;
    return sized({ ...rest, bytes: new Uint8Array(await response.arrayBuffer()) });
  }
  const body = response.body;
  return {
    length,
    fill: async (region) => {
      // Streamed from the network into the region: the one copy, with no whole-body buffer.
      const reader = body.getReader();
      let at = 0;
      let ms = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (at + value.byteLength > length)
          throw new ExecutorError('EXECUTION_ERROR', `input ${input.name} is longer than declared`, true);
        const started = performance.now();
        region.set(value, at);
        ms += performance.now() - started;
        at += value.byteLength;
      }
      if (at !== length)
        throw new ExecutorError(
          'EXECUTION_ERROR',
          `input ${input.name} ended at ${at} of ${length} bytes`,
          true,
        );
      countCopy('in:network-to-region', length);
      if (input.hash) await verifyModuleHash(region, input.hash, 'input');
      return ms;
    },
    discard: () => void body.cancel(),
  };
}

/**
 * Bytes a WASI job's mounted archives (`params.mounts`) unpack into, at most: a tar holds its files'
 * bytes and more, so each mounted input's own length. The arena needs room for them beside the inputs.
 */
export function mountedBytes(spec: PreparedJob['spec'], lengths: readonly number[]): number {
  const mounts = spec.params['mounts'];
  if (spec.kind !== 'wasi' || typeof mounts !== 'object' || mounts === null) return 0;
  const names = new Set(Object.values(mounts));
  return spec.inputs.reduce((sum, input, i) => sum + (names.has(input.name) ? (lengths[i] ?? 0) : 0), 0);
}
