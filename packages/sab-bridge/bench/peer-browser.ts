// Benchmark peer in a browser dedicated Worker (bundled to peer.js by chromium-runner.ts).
import { type PeerPort, servePeer } from './peer.ts';

/** The part of a Worker scope or a MessagePort the peer uses. */
interface Endpoint {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  onmessage: ((event: { data: unknown }) => void) | null;
}

function wrap(port: Endpoint): PeerPort {
  return {
    post: (m, transfer) => port.postMessage(m, transfer ?? []),
    onMessage: (h) => {
      port.onmessage = (e) => h(e.data); // setting onmessage also starts a MessagePort
    },
    wrap: (p) => wrap(p as Endpoint),
  };
}

servePeer(wrap(globalThis as unknown as Endpoint));
