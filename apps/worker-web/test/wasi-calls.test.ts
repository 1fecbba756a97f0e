// The WASI calls the tab answers itself (wasi-calls.ts): a C program's sleep waits in
// Atomics.wait, not a busy loop; poll() on stdin is ready with its bytes; recv, send and shutdown
// return errnos (ENOTSOCK on a descriptor, EBADF on none) instead of trapping; args_sizes_get
// counts the UTF-8 bytes args_get writes.
import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_LIMITS, type Job } from '../src/job.ts';
import { heapIo } from '../src/job-io.ts';
import { runWasiJob } from '../src/wasm-executor.ts';
import { WasmModules } from '../src/wasm-modules.ts';
import { fixture } from './fixtures.ts';

function pollJob(stdin: string, name = 'poll-sockets', args: string[] = []): Job {
  const module = fixture(name);
  return {
    jobId: 1,
    module,
    inputs: [{ name: 'stdin.txt', contentType: 'text/plain', bytes: new TextEncoder().encode(stdin) }],
    spec: {
      kind: 'wasi',
      taskId: 't-poll',
      entry: '_start',
      moduleHash: `sha256:${createHash('sha256').update(module).digest('hex')}`,
      wasiFs: false,
      inputs: [{ name: 'stdin.txt', contentType: 'text/plain' }],
      params: { args },
      limits: { ...DEFAULT_LIMITS },
    },
  };
}

describe('poll_oneoff and sockets', () => {
  it('sleeps in Atomics.wait, polls stdin ready, and answers socket calls with errnos', async () => {
    const wait = vi.spyOn(Atomics, 'wait');
    try {
      const started = performance.now();
      const result = await runWasiJob(pollJob('hello'), heapIo(), new WasmModules());
      if (!result.ok) throw new Error(result.message);
      expect(new TextDecoder().decode(result.outputs[0]!.bytes)).toBe(
        'nanosleep=0 waited>=150ms=yes\n' +
          'poll stdin=1 revents=POLLIN\n' +
          'recv=-1 errno=57\n' +
          'send=-1 errno=57\n' +
          'shutdown=-1 errno=57\n' +
          'recv(99)=-1 errno=8\n' +
          'ENOTSOCK=57 EBADF=8\n',
      );
      expect(performance.now() - started).toBeGreaterThanOrEqual(150);
      // The 150 ms went by in sleeps of at most 25 ms each, not in a loop reading the clock: a few
      // waits (six when none oversleeps; fewer on a loaded machine, where a 25 ms wait lasts longer).
      expect(wait.mock.calls.length).toBeGreaterThanOrEqual(2);
      expect(wait.mock.calls.length).toBeLessThanOrEqual(60);
      expect(wait.mock.calls.every((call) => (call[3] ?? Infinity) <= 25)).toBe(true);
    } finally {
      wait.mockRestore();
    }
  });

  it('sizes the argument buffer in UTF-8 bytes, so non-ASCII arguments arrive whole', async () => {
    const args = ['日本語', 'ünï', 'plain'];
    const result = await runWasiJob(pollJob('', 'args-size', args), heapIo(), new WasmModules());
    if (!result.ok) throw new Error(result.message);
    // With NULs: "t-poll" 7 bytes, 日本語 10, ünï 6, plain 6 (the shim said 21: UTF-16 units).
    expect(new TextDecoder().decode(result.outputs[0]!.bytes)).toBe('argc=4 buffer=29\n日本語\nünï\nplain\n');
  });
});
