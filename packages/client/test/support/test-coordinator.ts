// A real coordinator (in-process, SQLite in a temp dir, port 0) with one simulated volunteer
// speaking the real worker protocol. The volunteer's runner picks its behaviour by `op`:
//   sum (default)  outputs `sum` (JSON) of the input bytes
//   echo           outputs the first input back (large ones go to a blob)
//   fail           fails with EXECUTION_ERROR
//   exit3          sums, as a WASI program that exited with status 3 would report it
//   tree           outputs a collected tree: data/summary.txt, results/count.txt, ../../escape
//   gated          waits for `release(task_id)`, reports progress 25/50/75, then sums
//   slow           reports 10 % and runs until cancelled
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import {
  echoRunner,
  libraryRunner,
  type SimRunner,
  SimulatedVolunteer,
  sumRunner,
} from '@flock/coordinator/sim';

export const KEY = 'key-acme';
export const OTHER_KEY = 'key-other';
/** The smallest valid WASM module (magic and version); the simulated volunteer never runs it. */
export const WASM_HEADER = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

export interface TestCoordinator {
  url: string;
  coordinator: RunningCoordinator;
  volunteer: SimulatedVolunteer;
  /** WASM_HEADER, uploaded for `KEY`'s tenant: envelopes point their module at it. */
  module: { kind: 'wasm'; uri: string; hash: string };
  /** Lets a `gated` task go on. */
  release(taskId: string): void;
  /** Task ids of jobs the volunteer is running right now, and the most it ever ran at once. */
  running: Set<string>;
  maxRunning: () => number;
  close(): Promise<void>;
}

export async function startTestCoordinator(): Promise<TestCoordinator> {
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-client-'));
  const coordinator = await startCoordinator({
    port: 0,
    dataDir,
    apiKeys: new Map([
      [KEY, 'acme'],
      [OTHER_KEY, 'other'],
    ]),
    logLevel: 'silent',
    // The op the simulated volunteers run (no page ships it).
    extraOps: ['sum'],
  });
  const gates = new Map<string, () => void>();
  const opened = new Map<string, Promise<void>>();
  const gate = (taskId: string): Promise<void> => {
    let promise = opened.get(taskId);
    if (promise === undefined) {
      promise = new Promise<void>((resolve) => gates.set(taskId, resolve));
      opened.set(taskId, promise);
    }
    return promise;
  };
  const running = new Set<string>();
  let maxRunning = 0;
  const runner: SimRunner = async (job) => {
    const taskId = job.assignment.task_id ?? '';
    running.add(taskId);
    maxRunning = Math.max(maxRunning, running.size);
    try {
      switch (job.assignment.envelope?.op) {
        case 'echo':
          return echoRunner(job);
        case 'fail':
          return { failure: { code: 'EXECUTION_ERROR', message: 'the kernel trapped', retryable: false } };
        case 'tree':
          return {
            outputs: ['data/summary.txt', 'results/count.txt', '../../escape'].map((name) => ({
              name,
              content_type: 'application/octet-stream',
              inline_bytes: new TextEncoder().encode(name),
            })),
          };
        case 'exit3': {
          const summed = await sumRunner(job);
          return 'outputs' in summed ? { ...summed, summary: { ...summed.summary, exit_code: '3' } } : summed;
        }
        case 'gated':
          await gate(taskId);
          for (const pct of [25, 50, 75]) job.progress(pct);
          return sumRunner(job);
        case 'slow':
          job.progress(10);
          await new Promise((resolve) => job.signal.addEventListener('abort', resolve, { once: true }));
          return { failure: { code: 'CANCELLED', message: 'cancelled', retryable: false } };
        default:
          // Library methods by their Node reference; everything else sums its input bytes.
          return job.assignment.envelope?.module?.kind === 'library' ? libraryRunner(job) : sumRunner(job);
      }
    } finally {
      running.delete(taskId);
    }
  };
  const volunteer = await SimulatedVolunteer.connect({
    url: coordinator.url,
    run: runner,
    capability: { cpu_slots: 4 },
  });
  const uploaded = await fetch(`${coordinator.url}/v1/modules`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/wasm' },
    body: WASM_HEADER,
  });
  const ref = (await uploaded.json()) as { uri: string; hash: string };
  return {
    url: coordinator.url,
    module: { kind: 'wasm', uri: ref.uri, hash: ref.hash },
    coordinator,
    volunteer,
    running,
    maxRunning: () => maxRunning,
    release: (taskId) => {
      void gate(taskId);
      gates.get(taskId)?.();
    },
    close: async () => {
      await volunteer.close();
      await coordinator.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
