// The page side of the Chromium benchmark (bundled to main.js by browser.bench.ts): runs on the
// page's main thread, where Atomics.wait is not allowed, against a peer in a dedicated Worker.
import { type Results, runBenchmarks } from './core.ts';

interface BrowserWorker {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: { message: string }) => void) | null;
}
interface Port {
  postMessage(message: unknown, transfer?: unknown[]): void;
  onmessage: ((event: { data: unknown }) => void) | null;
}
interface Page {
  crossOriginIsolated: boolean;
  MessageChannel: new () => { port1: Port; port2: Port };
  navigator: { userAgent: string; hardwareConcurrency: number };
  Worker: new (url: string, options: { type: 'module' }) => BrowserWorker;
  __bench?: { results?: Results; error?: string };
}
const page = globalThis as unknown as Page;

async function main(): Promise<Results> {
  if (!page.crossOriginIsolated)
    throw new Error('the page is not crossOriginIsolated: SharedArrayBuffer is off');
  const worker = new page.Worker('./peer.js', { type: 'module' });
  const queue: unknown[] = [];
  let wake = (): void => {};
  let failure: string | undefined;
  worker.onmessage = (e) => {
    queue.push(e.data);
    wake();
  };
  worker.onerror = (e) => {
    failure = e.message;
    wake();
  };
  const chrome = /Chrome\/([\d.]+)/.exec(page.navigator.userAgent)?.[1] ?? '?';
  const params = new URLSearchParams(
    (globalThis as unknown as { location: { search: string } }).location.search,
  );
  return runBenchmarks(
    {
      post: (m, transfer) => worker.postMessage(m, transfer ?? []),
      async next() {
        while (queue.length === 0 && failure === undefined) await new Promise<void>((r) => (wake = r));
        if (failure !== undefined) throw new Error(`peer failed: ${failure}`);
        return queue.shift();
      },
    },
    {
      env: `Chromium ${chrome} headless, page main thread + dedicated Worker, crossOriginIsolated=${page.crossOriginIsolated}, ${page.navigator.hardwareConcurrency} cores`,
      canBlock: false,
      samples: Number(params.get('samples') ?? 400),
      batch: 32,
      bulkSamples: Number(params.get('bulk') ?? 200),
      workloadJobs: Number(params.get('jobs') ?? 20_000),
      async openChannel() {
        const { port1, port2 } = new page.MessageChannel();
        worker.postMessage({ t: 'port', port: port2 }, [port2 as unknown as ArrayBuffer]);
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        if (queue.shift() !== 'port-ready') throw new Error('peer did not take the port');
        const replies: unknown[] = [];
        let ready = (): void => {};
        port1.onmessage = (e) => {
          replies.push(e.data);
          ready();
        };
        return {
          post: (m, transfer) => port1.postMessage(m, transfer ?? []),
          async next() {
            while (replies.length === 0) await new Promise<void>((r) => (ready = r));
            return replies.shift();
          },
        };
      },
      log: (line) => console.log(line),
    },
  );
}

main().then(
  (results) => {
    page.__bench = { results };
  },
  (e: Error) => {
    page.__bench = { error: e.stack ?? String(e) };
  },
);
