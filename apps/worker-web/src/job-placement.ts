// How much of an executor's arena a job takes, and the regions it is given there: its inputs, its
// module when the executor does not hold it yet, a kernel's stop word on the ring, and its spec
// when the spec is too long for the job record (executor-host.ts places the job with these).
import type { HostTransport } from './host-transport.ts';
import type { PreparedJob } from './job-builder.ts';
import { SPEC_IN_RECORD_MAX } from './job-record.ts';
import { mountedBytes } from './sized-input.ts';

/** A placed job's regions; `all` holds every one of them, to be freed with the job. */
export interface JobRegions {
  all: Uint8Array[];
  inputs: Uint8Array[];
  module: Uint8Array | undefined;
  stopWord: Uint8Array | undefined;
  spec: Uint8Array | undefined;
}

/** What a job asks of the arena besides its inputs. */
export interface JobExtras {
  /** Bytes of the module sent with it (0: the executor holds it). */
  moduleBytes: number;
  /** A kernel on the ring: a 4-byte stop word it polls. */
  stopWord: boolean;
  /** The spec's block (`specBlockBytes`; 0: the spec travels in the record). */
  specBlock: number;
}

/**
 * The bytes of a spec's block when it is too long for the job record, with room for the handoff
 * added to it once placed; 0 when the record carries it. UTF-8 takes at most 3 bytes a UTF-16 unit,
 * so almost every spec is known to fit without being encoded.
 */
export function specBlockBytes(spec: PreparedJob['spec']): number {
  const json = JSON.stringify(spec);
  if (json.length * 3 <= SPEC_IN_RECORD_MAX) return 0;
  const length = new TextEncoder().encode(json).byteLength;
  return length > SPEC_IN_RECORD_MAX ? length + 128 : 0;
}

/**
 * The arena bytes a job must have: its regions, the trees its mounts unpack into, and a block
 * header a region (64 bytes each, for the inputs and up to three more).
 */
export function bytesNeeded(
  spec: PreparedJob['spec'],
  inputLengths: readonly number[],
  extras: JobExtras,
): number {
  const inputs = inputLengths.reduce((sum, n) => sum + n, 0);
  const mounted = mountedBytes(spec, inputLengths);
  return inputs + mounted + extras.specBlock + extras.moduleBytes + 64 * (inputLengths.length + 3);
}

/** Reserves a job's regions under `jobId`; undefined, with none held, when one does not fit now. */
export function reserveRegions(
  transport: HostTransport,
  jobId: number,
  inputLengths: readonly number[],
  extras: JobExtras,
): JobRegions | undefined {
  const all: Uint8Array[] = [];
  let missing = false;
  const reserve = (length: number): Uint8Array | undefined => {
    const region = transport.reserve(jobId, length);
    if (region) all.push(region);
    else missing = true;
    return region;
  };
  const inputs = inputLengths.map((n) => reserve(n));
  const module = extras.moduleBytes > 0 ? reserve(extras.moduleBytes) : undefined;
  const stopWord = extras.stopWord ? reserve(4) : undefined;
  const spec = extras.specBlock > 0 ? reserve(extras.specBlock) : undefined;
  if (missing) {
    for (const region of all) transport.free(region);
    return undefined;
  }
  return { all, inputs: inputs as Uint8Array[], module, stopWord, spec };
}
