// The executor side of threads.test.ts, on a real worker thread: pops and verifies the inbox
// stream while pushing its own seeded stream to the outbox.
import { parentPort, workerData } from 'node:worker_threads';
import { attach } from '../../src/index.ts';
import { type PeerInput, run } from './pump.ts';

const p = workerData as PeerInput;
const bridge = attach(p.buffer, p.byteOffset);
// Say we are loaded: the test thread blocks in its own loop once it starts, so it waits for this.
parentPort!.postMessage('ready');
parentPort!.postMessage(run(bridge.inbox, bridge.outbox, p.inSeed, p.outSeed, p.count, p.maxExtra));
