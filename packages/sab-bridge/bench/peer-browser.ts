// Benchmark peer in a browser dedicated Worker (bundled to peer.js by browser.bench.ts).
import { servePeer } from './peer.ts';

interface WorkerScope {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  onmessage: ((event: { data: unknown }) => void) | null;
}
const scope = globalThis as unknown as WorkerScope;

servePeer({
  post: (m, transfer) => scope.postMessage(m, transfer ?? []),
  onMessage: (h) => {
    scope.onmessage = (e) => h(e.data);
  },
});
