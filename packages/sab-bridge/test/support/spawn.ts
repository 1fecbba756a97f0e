// Runs a TypeScript module on a real worker thread and reads its messages in order.
import { Worker } from 'node:worker_threads';

export interface Peer {
  /** The next message the worker posted; rejects if the worker failed. */
  next(): Promise<unknown>;
  terminate(): Promise<number>;
}

export function spawnTs(module: URL, data: object): Peer {
  const w = new Worker(new URL('./tsx-worker.mjs', import.meta.url), {
    workerData: { ...data, module: module.href },
  });
  const messages: unknown[] = [];
  let wake = (): void => {};
  let failure: unknown;
  w.on('message', (m) => {
    messages.push(m);
    wake();
  });
  w.once('error', (e) => {
    failure = e;
    wake();
  });
  w.once('exit', (code) => {
    if (code !== 0 && failure === undefined) failure = new Error(`worker exited with ${code}`);
    wake();
  });
  return {
    async next() {
      while (messages.length === 0 && failure === undefined) await new Promise<void>((r) => (wake = r));
      if (messages.length > 0) return messages.shift();
      throw failure;
    },
    terminate: () => w.terminate(),
  };
}
