// A scripted volunteer for the dashboard specs: it speaks the real worker protocol (SimulatedVolunteer)
// and computes built-in ops with the CPU references of @flock/shaders. Its jobs can be held before
// they finish until the test releases them, so that queued and running are seen for sure.
import type { SimRunner } from '@flock/coordinator/sim';
import type { Capability, DataRef } from '@flock/protocol';
import { flockShaders } from './shaders.ts';

const { OPS } = await flockShaders();

/** The built-in ops' definitions and CPU references (@flock/shaders). */
export { OPS };

/** The scripted volunteers' capability: a (fallback) WebGPU adapter with two GPU slots. */
export const SIM_CAPABILITY: Capability = {
  webgpu: true,
  gpu: {
    backend: 'webgpu',
    vendor: 'flock-sim',
    architecture: 'cpu-reference',
    features: ['timestamp-query', 'float32-filterable', 'indirect-first-instance'],
    is_fallback_adapter: true,
  },
  cpu_slots: 2,
  gpu_slots: 2,
  labels: { browser: 'flock-sim (Node)' },
};

/** The mandelbrot reference, a few rows at a time so that progress flows and cancel is prompt. */
async function mandelbrotInBands(
  params: Record<string, number>,
  signal: AbortSignal,
  progress: (pct: number) => void,
): Promise<Uint8Array> {
  const width = params['width'] ?? 0;
  const height = params['height'] ?? 0;
  const yMin = params['y_min'] ?? -1.5;
  const yMax = params['y_max'] ?? 1.5;
  const out = new Uint8Array(width * height * 4);
  // At most ~2e7 iterations per band: the volunteer shares this process with the coordinator.
  const band = Math.max(1, Math.floor(2e7 / (width * (params['max_iter'] ?? 256))));
  for (let row = 0; row < height; row += band) {
    if (signal.aborted) throw new Error('cancelled');
    const rows = Math.min(band, height - row);
    const dy = (yMax - yMin) / height;
    const prepared = OPS.mandelbrot.prepare(
      {},
      { ...params, height: rows, y_min: yMin + row * dy, y_max: yMin + (row + rows) * dy },
    );
    const { iterations } = await prepared.reference();
    out.set(iterations!, row * width * 4);
    progress(Math.round(((row + rows) / height) * 100));
    await new Promise((r) => setImmediate(r));
  }
  return out;
}

/**
 * Runs built-in ops with the CPU references of @flock/shaders (and `describe`, which reports on its
 * stdin as JSON and text); a task id in `held` waits at 5 % until `release` lets it go.
 */
export class BuiltinOps {
  /** Task ids whose jobs wait for `release` before they finish. */
  readonly held = new Set<string>();
  /** Task ids whose jobs are running now. */
  readonly running = new Set<string>();
  private readonly gates = new Map<string, () => void>();
  private readonly released = new Set<string>();

  release(taskId: string): void {
    this.released.add(taskId);
    this.gates.get(taskId)?.();
  }

  /** Lets every held job go (after the spec). */
  releaseAll(): void {
    for (const id of this.gates.keys()) this.release(id);
  }

  readonly run: SimRunner = async (job) => {
    const envelope = job.assignment.envelope ?? {};
    const taskId = job.assignment.task_id ?? '';
    const op = envelope.op ?? '';
    const params = (envelope.params ?? {}) as Record<string, number>;
    this.running.add(taskId);
    try {
      if (this.held.has(taskId) && !this.released.has(taskId)) {
        job.progress(5);
        await new Promise<void>((r) => this.gates.set(taskId, r));
      }
      if (op === 'describe') {
        // Reports on its stdin, as JSON and as text (for the JSON and text previews).
        const stdin = envelope.inputs?.[0]?.inline_bytes ?? new Uint8Array(0);
        const text = new TextDecoder().decode(stdin);
        const report = { bytes: stdin.length, words: text.split(/\s+/).filter(Boolean).length };
        return {
          outputs: [
            { name: 'report.json', content_type: 'application/json', inline_json: JSON.stringify(report) },
            {
              name: 'stdout',
              content_type: 'text/plain',
              inline_bytes: new TextEncoder().encode(text.toUpperCase()),
            },
          ],
          executor: 'js',
        };
      }
      const def = OPS[op as keyof typeof OPS];
      if (def === undefined)
        return { failure: { code: 'UNSUPPORTED', message: `no op ${op}`, retryable: false } };
      let outputs: Record<string, Uint8Array>;
      if (op === 'mandelbrot') {
        outputs = { iterations: await mandelbrotInBands(params, job.signal, (pct) => job.progress(pct)) };
      } else {
        const inputs = Object.fromEntries(
          (envelope.inputs ?? []).map((i) => [i.name ?? '', i.inline_bytes!]),
        );
        outputs = await def.prepare(inputs, params).reference();
      }
      const refs: DataRef[] = def.outputs.map((t) => {
        const bytes = outputs[t.name]!;
        let shape = t.shape.map((s) => Number(params[s] ?? s));
        if (shape.some(Number.isNaN))
          shape = [bytes.length / (t.dtype === 'u8' ? 1 : t.dtype === 'c64' ? 8 : 4)];
        return {
          name: t.name,
          content_type: 'application/octet-stream',
          inline_bytes: bytes,
          tensor: { dtype: t.dtype, shape },
        };
      });
      return { outputs: refs, executor: 'js' };
    } catch (error) {
      return { failure: { code: 'CANCELLED', message: String(error), retryable: false } };
    } finally {
      this.running.delete(taskId);
    }
  };
}
