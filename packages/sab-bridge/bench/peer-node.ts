// Benchmark peer on a Node worker thread (started through test/support/tsx-worker.mjs).
import { type MessagePort, parentPort } from 'node:worker_threads';
import { type PeerPort, servePeer } from './peer.ts';

function wrap(port: MessagePort): PeerPort {
  return {
    post: (m, transfer) => port.postMessage(m, transfer),
    onMessage: (h) => port.on('message', h),
    wrap: (p) => wrap(p as MessagePort),
  };
}

servePeer(wrap(parentPort!));
