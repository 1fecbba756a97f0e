// The ml bench's page: the tab's ONNX Runtime build (onnxruntime-web/webgpu, its asyncify WASM)
// runs the repo's CNN on one provider and batch size, and reports inferences per second and the
// logits of a fixed input (to measure how far providers drift from onnxruntime-node).
import * as ort from 'onnxruntime-web/webgpu';
import { cnnModel, exampleValues, writeOnnx } from '../../../packages/libraries/src/models/index.ts';

export interface PageRun {
  provider: 'webgpu' | 'wasm';
  threads: number;
  batch: number;
  seconds: number;
}

export interface PageResult {
  inferencesPerSecond: number;
  runs: number;
  firstRunMs: number;
  /** Logits of `exampleValues(784 · 4, 42)` as [4, 10]. */
  probe: number[];
  isolated: boolean;
}

async function bench(run: PageRun, wasmUrl: string): Promise<PageResult> {
  ort.env.wasm.wasmBinary = new Uint8Array(await (await fetch(wasmUrl)).arrayBuffer());
  ort.env.wasm.numThreads = run.threads;
  const session = await ort.InferenceSession.create(writeOnnx(cnnModel()), {
    executionProviders: [run.provider],
  });
  const feed = (n: number, seed: number) => ({
    image: new ort.Tensor('float32', exampleValues(n * 784, seed), [n, 1, 28, 28]),
  });
  const probe = Array.from((await session.run(feed(4, 42))).logits!.data as Float32Array);
  const input = feed(run.batch, 7);
  const t0 = performance.now();
  await session.run(input);
  const firstRunMs = performance.now() - t0;
  let runs = 0;
  const start = performance.now();
  while (performance.now() - start < run.seconds * 1000) {
    await session.run(input);
    runs += 1;
  }
  const elapsed = (performance.now() - start) / 1000;
  return {
    inferencesPerSecond: (runs * run.batch) / elapsed,
    runs,
    firstRunMs,
    probe,
    isolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
  };
}

(globalThis as unknown as { runBench: typeof bench }).runBench = bench;
