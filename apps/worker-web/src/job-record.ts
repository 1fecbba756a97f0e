// The records of an executor's bridge, as both transports carry them: a BridgeRecord header (its
// JSON `params` holds what is not bulk) and named byte regions. On the ring a region is an arena
// slice; over postMessage it is a transferred buffer. The executor's code sees the same Job and
// JobOutcome either way.
import type { TensorShape } from '@flock/libraries/models';
import type { BridgeRecord } from '@flock/protocol';
import type { JobFailure } from './executor-error.ts';
import type { Job, JobOutcome, JobProgress, JobSpec } from './job.ts';

/** A record and its regions, in order; a region's name says what it is. */
export interface WireRecord {
  record: BridgeRecord;
  regions: Array<{ name: string; bytes: Uint8Array }>;
}

/**
 * Region names of a job record: its module, its inputs (in the spec's order), a kernel's stop word,
 * and the spec itself when it is too long for the record.
 */
export const REGION = { module: 'module', input: 'input', stop: 'stop', spec: 'spec' } as const;

/**
 * The longest spec JSON carried in the record itself (UTF-8 bytes). A record must fit the ring
 * (64 KiB) and a task's params may be up to 1 MiB (`maxParamsBytes`: a long SQL query, a WASI
 * program's arguments): a longer spec travels as a region of its own.
 */
export const SPEC_IN_RECORD_MAX = 16 * 1024;

/** The spec's JSON as UTF-8, to be placed in a region when longer than SPEC_IN_RECORD_MAX. */
export function specBytes(spec: JobSpec): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(spec));
}

/**
 * The job record: the spec as JSON, the module (when sent) and the inputs as regions. `specRegion`:
 * the spec's bytes (`specBytes`) already in a region, for a spec past SPEC_IN_RECORD_MAX.
 */
export function jobRecord(job: Job, specRegion?: Uint8Array): WireRecord {
  const regions: WireRecord['regions'] = [];
  if (job.module) regions.push({ name: REGION.module, bytes: job.module });
  for (const input of job.inputs) regions.push({ name: REGION.input, bytes: input.bytes });
  if (job.stopWord) regions.push({ name: REGION.stop, bytes: job.stopWord });
  if (specRegion) regions.push({ name: REGION.spec, bytes: specRegion });
  const params = specRegion ? '' : JSON.stringify(job.spec);
  return { record: { kind: 'job', job_id: job.jobId, task_id: job.spec.taskId, params }, regions };
}

/** Reads a job record back into a Job (the executor's side). */
export function jobOf(wire: WireRecord): Job {
  const specRegion = wire.regions.find((r) => r.name === REGION.spec)?.bytes;
  // A copy: browsers' TextDecoder refuses a view of the shared arena.
  const text = specRegion ? new TextDecoder().decode(specRegion.slice()) : wire.record.params;
  const spec = JSON.parse(text || '{}') as JobSpec;
  const inputs = wire.regions.filter((r) => r.name === REGION.input);
  return {
    jobId: wire.record.job_id ?? 0,
    spec,
    module: wire.regions.find((r) => r.name === REGION.module)?.bytes,
    stopWord: wire.regions.find((r) => r.name === REGION.stop)?.bytes,
    inputs: spec.inputs.map((meta, i) => ({
      name: meta.name,
      contentType: meta.contentType,
      bytes: inputs[i]?.bytes ?? new Uint8Array(0),
      ...(meta.tensor ? { tensor: meta.tensor } : {}),
    })),
  };
}

interface OutcomeMeta {
  executor?: string;
  summary?: Record<string, string>;
  metrics?: Record<string, string>;
  contentTypes: string[];
  /** Each output's TensorSpec (null: not a tensor); absent when no output is one. */
  tensors?: Array<TensorShape | null>;
  /** A failure's field at fault (library jobs). */
  field?: string;
  /** Bytes used of each region (an arena block may be longer than its output). */
  lengths: number[];
}

/**
 * The outcome record: a result with its outputs as regions, or a failure (whose regions are the
 * partial outputs of a job that stopped cooperatively).
 */
export function outcomeRecord(jobId: number, outcome: JobOutcome): WireRecord {
  const outputs = outcome.ok ? outcome.outputs : (outcome.partial?.outputs ?? []);
  const meta: OutcomeMeta = {
    contentTypes: outputs.map((o) => o.contentType),
    lengths: outputs.map((o) => o.bytes.byteLength),
  };
  if (outputs.some((o) => o.tensor)) meta.tensors = outputs.map((o) => o.tensor ?? null);
  const regions = outputs.map((o) => ({ name: o.name, bytes: o.bytes }));
  if (outcome.ok) {
    meta.executor = outcome.executor;
    meta.summary = outcome.summary;
    meta.metrics = outcome.metrics;
    return { record: { kind: 'result', job_id: jobId, params: JSON.stringify(meta) }, regions };
  }
  if (outcome.partial) meta.summary = outcome.partial.summary;
  if (outcome.field !== undefined) meta.field = outcome.field;
  return {
    record: {
      kind: 'failure',
      job_id: jobId,
      code: outcome.code,
      message: outcome.message,
      retryable: outcome.retryable,
      params: JSON.stringify(meta),
    },
    regions,
  };
}

/** Reads an outcome record (the main thread's side). */
export function outcomeOf(wire: WireRecord): JobOutcome {
  const meta = JSON.parse(wire.record.params || '{"contentTypes":[],"lengths":[]}') as OutcomeMeta;
  const outputs = wire.regions.map((r, i) => {
    const tensor = meta.tensors?.[i];
    return {
      name: r.name,
      contentType: meta.contentTypes[i] ?? 'application/octet-stream',
      bytes: r.bytes.subarray(0, meta.lengths[i] ?? r.bytes.byteLength),
      ...(tensor ? { tensor } : {}),
    };
  });
  if (wire.record.kind === 'result') {
    return {
      ok: true,
      outputs,
      executor: meta.executor ?? '',
      summary: meta.summary ?? {},
      metrics: meta.metrics ?? {},
    };
  }
  const failure: JobFailure = {
    ok: false,
    code: (wire.record.code ?? 'EXECUTION_ERROR') as JobFailure['code'],
    message: wire.record.message ?? '',
    retryable: wire.record.retryable === true,
  };
  if (meta.field !== undefined) failure.field = meta.field;
  if (outputs.length > 0 || meta.summary) {
    failure.partial = { ok: true, outputs, executor: '', summary: meta.summary ?? {}, metrics: {} };
  }
  return failure;
}

/** A progress record (no regions). */
export function progressRecord(jobId: number, progress: JobProgress): WireRecord {
  return {
    record: { kind: 'progress', job_id: jobId, pct: progress.pct, params: JSON.stringify(progress.metrics) },
    regions: [],
  };
}

export function progressOf(record: BridgeRecord): JobProgress {
  return { pct: record.pct ?? 0, metrics: JSON.parse(record.params || '{}') as Record<string, string> };
}
