// Runs instrumentFuel on a worker thread, one module at a time, started on first use and stopped
// when idle (binaryen holds ~100 MB once loaded).
import { Worker } from 'node:worker_threads';
import { FuelError, type FuelErrorCode } from './fuel-error.ts';
import type { FuelReply, FuelRequest } from './fuel-thread.ts';

/** Options of `FuelThread`. */
export interface FuelThreadOptions {
  /** Longest one module may take before the thread is stopped and the request fails. Default 120 s. */
  timeoutMs?: number;
  /** The thread stops after this long without work. Default 60 s. */
  idleMs?: number;
}

interface Job {
  id: number;
  bytes: Uint8Array;
  resolve: (bytes: Uint8Array) => void;
  reject: (error: Error) => void;
}

const CODES = new Set<FuelErrorCode>(['NOT_WASM', 'ALREADY_NAMED', 'UNSUPPORTED', 'FAILED']);

/**
 * The thread runs under tsx (the coordinator's TypeScript loader). binaryen is imported before
 * tsx is registered so that Node's own loader reads it: through tsx its 15 MB take seconds.
 */
function bootstrap(): string {
  const binaryen = import.meta.resolve('binaryen');
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./fuel-thread.ts', import.meta.url).href;
  return `import(${JSON.stringify(binaryen)})
    .then(() => import(${JSON.stringify(tsx)}))
    .then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
}

/** Instruments modules off the event loop: `instrument` resolves with the bytes or rejects with a FuelError. */
export class FuelThread {
  private worker: Worker | undefined;
  private readonly queue: Job[] = [];
  private current: Job | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private readonly timeoutMs: number;
  private readonly idleMs: number;
  /** Threads started so far (a test's view of restarts). */
  started = 0;

  constructor(options: FuelThreadOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.idleMs = options.idleMs ?? 60_000;
  }

  instrument(bytes: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, bytes, resolve, reject });
      if (!this.current) this.next();
    });
  }

  /** Stops the thread; queued requests fail with FAILED. */
  async close(): Promise<void> {
    const failed = new FuelError('FAILED', 'the coordinator is shutting down');
    for (const job of this.queue.splice(0)) job.reject(failed);
    this.current?.reject(failed);
    this.current = undefined;
    await this.stop();
  }

  private next(): void {
    clearTimeout(this.timer);
    const job = this.queue.shift();
    this.current = job;
    if (!job) {
      this.timer = setTimeout(() => void this.stop(), this.idleMs);
      this.timer.unref();
      return;
    }
    const message: FuelRequest = { id: job.id, bytes: job.bytes };
    this.thread().postMessage(message);
    this.timer = setTimeout(() => {
      this.fail(job, `instrumenting took longer than ${this.timeoutMs} ms`);
    }, this.timeoutMs);
    this.timer.unref();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(bootstrap(), { eval: true });
    worker.unref();
    worker.on('message', (reply: FuelReply) => this.answer(reply));
    worker.on('error', (error) => {
      if (this.current) this.fail(this.current, `the instrumenting thread failed: ${error.message}`);
    });
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      if (this.current) this.fail(this.current, 'the instrumenting thread exited');
    });
    this.worker = worker;
    this.started++;
    return worker;
  }

  private answer(reply: FuelReply): void {
    const job = this.current;
    if (!job || job.id !== reply.id) return;
    if ('bytes' in reply) job.resolve(reply.bytes);
    else {
      const code = CODES.has(reply.error.code as FuelErrorCode)
        ? (reply.error.code as FuelErrorCode)
        : 'FAILED';
      job.reject(new FuelError(code, reply.error.message));
    }
    this.next();
  }

  /** The current job fails; the thread is replaced (it may be stuck or broken). */
  private fail(job: Job, message: string): void {
    if (this.current !== job) return;
    job.reject(new FuelError('FAILED', message));
    void this.stop();
    this.next();
  }

  private async stop(): Promise<void> {
    clearTimeout(this.timer);
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }
}
