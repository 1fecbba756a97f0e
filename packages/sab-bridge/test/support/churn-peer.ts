// The second thread of arena-threads.test.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { attach } from '../../src/index.ts';
import { churn } from './churn.ts';

const { buffer, seed, owner, iterations } = workerData as {
  buffer: SharedArrayBuffer;
  seed: number;
  owner: number;
  iterations: number;
};
const bridge = attach(buffer);
parentPort!.postMessage('ready');
// Start together with the test thread: it bumps the inbox epoch once it is about to churn too.
bridge.inbox.waitForData(10_000);
parentPort!.postMessage(churn(bridge.arena, seed, owner, iterations));
