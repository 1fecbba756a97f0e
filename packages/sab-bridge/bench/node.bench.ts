// Node side of `npm run bench -w @flock/sab-bridge`: the main thread here, the peer on a worker thread.
import { cpus } from 'node:os';
import { MessageChannel, Worker } from 'node:worker_threads';
import { runBenchmarks } from './core.ts';
import { formatResults } from './report.ts';

const worker = new Worker(new URL('../test/support/tsx-worker.mjs', import.meta.url), {
  workerData: { module: new URL('./peer-node.ts', import.meta.url).href },
});
const queue: unknown[] = [];
let wake = (): void => {};
worker.on('message', (m) => {
  queue.push(m);
  wake();
});
worker.on('error', (e) => {
  console.error(e);
  process.exit(1);
});

const results = await runBenchmarks(
  {
    post: (m, transfer) => worker.postMessage(m, transfer),
    async next() {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      return queue.shift();
    },
  },
  {
    env: `Node ${process.version}, worker_threads, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    canBlock: true,
    samples: Number(process.env.FLOCK_BENCH_SAMPLES ?? 400),
    batch: 32,
    bulkSamples: Number(process.env.FLOCK_BENCH_BULK ?? 200),
    async openChannel() {
      const { port1, port2 } = new MessageChannel();
      worker.postMessage({ t: 'port', port: port2 }, [port2]);
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      if (queue.shift() !== 'port-ready') throw new Error('peer did not take the port');
      const replies: unknown[] = [];
      let ready = (): void => {};
      port1.on('message', (m) => {
        replies.push(m);
        ready();
      });
      return {
        post: (m, transfer) => port1.postMessage(m, transfer),
        async next() {
          while (replies.length === 0) await new Promise<void>((r) => (ready = r));
          return replies.shift();
        },
      };
    },
    log: (line) => console.log(`  ${line}`),
  },
);
console.log(formatResults(results));
await worker.terminate();
process.exit(0); // the MessageChannel port would keep the event loop alive
