// A job crossing an executor's ring bridge (host-transport.ts → executor-transport.ts) with an
// empty input: the host sends it as a slice of no block, and the executor must read it as no
// bytes. It used to throw STALE_HANDLE in the executor's loop, so the job hung until its timeout.
import { describe, expect, it } from 'vitest';
import { RingExecutorTransport } from '../src/executor-transport.ts';
import { RingHostTransport } from '../src/host-transport.ts';
import { DEFAULT_LIMITS, type Job } from '../src/job.ts';
import { jobRecord, SPEC_IN_RECORD_MAX, specBytes } from '../src/job-record.ts';

describe('ring transport', () => {
  it('carries an empty input as no bytes beside a filled one', async () => {
    const host = new RingHostTransport(1 << 16);
    const executor = new RingExecutorTransport(host.bridge, host.control, host.memory);
    const filled = host.reserve(9, 3)!;
    filled.set([1, 2, 3]);
    const inputs = [
      { name: 'empty', contentType: 'text/plain', bytes: host.reserve(9, 0)! },
      { name: 'x', contentType: 'text/plain', bytes: filled },
    ];
    const job: Job = {
      jobId: 9,
      module: undefined,
      inputs,
      spec: {
        kind: 'wasi',
        taskId: 't-empty-input',
        entry: '_start',
        moduleHash: 'sha256:00',
        wasiFs: false,
        inputs: inputs.map(({ name, contentType }) => ({ name, contentType })),
        params: {},
        limits: { ...DEFAULT_LIMITS },
      },
    };
    expect(host.send(jobRecord(job))).toBe(true);
    const received = await executor.next();
    expect(received?.inputs.map((input) => [input.name, [...input.bytes]])).toEqual([
      ['empty', []],
      ['x', [1, 2, 3]],
    ]);
    host.close();
  });

  it('carries a spec longer than the ring holds (params up to 1 MiB) in a region of its own', async () => {
    const host = new RingHostTransport(1 << 22);
    const executor = new RingExecutorTransport(host.bridge, host.control, host.memory);
    // A long query of multi-byte characters: longer in UTF-8 than in UTF-16 code units.
    const sql = `SELECT '${'é'.repeat(60_000)}' AS x`;
    const job: Job = {
      jobId: 11,
      module: undefined,
      inputs: [],
      spec: {
        kind: 'library',
        taskId: 't-long-params',
        entry: '',
        moduleHash: '',
        wasiFs: false,
        inputs: [],
        params: { sql },
        limits: { ...DEFAULT_LIMITS },
      },
    };
    const bytes = specBytes(job.spec);
    expect(bytes.byteLength).toBeGreaterThan(SPEC_IN_RECORD_MAX);
    // In the record it can never fit the 64 KiB ring.
    expect(() => host.send(jobRecord(job))).toThrow(/RECORD_TOO_LARGE/);
    // Padded with spaces, as the host leaves the rest of its block.
    const region = host.reserve(11, bytes.byteLength + 7)!;
    region.fill(0x20);
    region.set(bytes);
    expect(host.send(jobRecord(job, region))).toBe(true);
    const received = await executor.next();
    expect(received?.spec.params).toEqual({ sql });
    expect(received?.spec.taskId).toBe('t-long-params');
    host.close();
  });
});
