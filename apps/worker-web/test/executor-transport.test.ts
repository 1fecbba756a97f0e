// A job crossing an executor's ring bridge (host-transport.ts → executor-transport.ts) with an
// empty input: the host sends it as a slice of no block, and the executor must read it as no
// bytes. It used to throw STALE_HANDLE in the executor's loop, so the job hung until its timeout.
import { describe, expect, it } from 'vitest';
import { RingExecutorTransport } from '../src/executor-transport.ts';
import { RingHostTransport } from '../src/host-transport.ts';
import { DEFAULT_LIMITS, type Job } from '../src/job.ts';
import { jobRecord } from '../src/job-record.ts';

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
});
