// Benchmark peer on a Node worker thread (started through test/support/tsx-worker.mjs).
import { parentPort } from 'node:worker_threads';
import { servePeer } from './peer.ts';

servePeer({
  post: (m, transfer) => parentPort!.postMessage(m, transfer),
  onMessage: (h) => parentPort!.on('message', h),
});
