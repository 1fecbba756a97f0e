// Echoes every inbox record to the outbox, sleeping in Atomics.wait (no spin) between records,
// until the bridge is closed. Used by wakeup.test.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { attach } from '../../src/index.ts';

const bridge = attach((workerData as { buffer: SharedArrayBuffer }).buffer);
const buf = new Uint8Array(256);
let echoed = 0;
parentPort!.postMessage('ready');
// A lost wake-up would leave this asleep for the whole 30 s; the test's own timeout is shorter.
while (bridge.inbox.waitForData(30_000, 0) === 'ok') {
  const n = bridge.inbox.popInto(buf);
  while (!bridge.outbox.push(buf.subarray(0, n))) bridge.outbox.waitForSpace(n, 30_000, 0);
  echoed++;
}
parentPort!.postMessage(echoed);
