// Blocking and non-blocking waits on an Int32 epoch word, shared by the rings and the allocator lock.
import { BridgeError } from './bridge-error.ts';

/**
 * What a wait ended with: data/space is there, the time ran out, the bridge was closed, or (on
 * the inbox) the main thread requested a cancel while the executor waited.
 */
export type WaitResult = 'ok' | 'timed-out' | 'closed' | 'cancelled';

type TimerHost = { setTimeout(callback: () => void, ms: number): unknown };

let blockingAllowed: boolean | undefined;

/**
 * Whether this thread may call Atomics.wait: true in Workers and in Node's main thread, false on a
 * browser's main thread (where Atomics.wait throws a TypeError). Probed once per thread.
 */
export function canBlock(): boolean {
  if (blockingAllowed === undefined) {
    const probe = new Int32Array(new SharedArrayBuffer(4));
    try {
      // Value 1 ≠ 0: returns 'not-equal' at once where waiting is allowed, throws where it is not.
      Atomics.wait(probe, 0, 1, 0);
      blockingAllowed = true;
    } catch {
      blockingAllowed = false;
    }
  }
  return blockingAllowed;
}

/** Blocks until `words[index]` is no longer `value` or `timeoutMs` passes (Atomics.wait). */
export function waitBlocking(words: Int32Array, index: number, value: number, timeoutMs: number): void {
  if (!canBlock()) {
    throw new BridgeError('CANNOT_BLOCK', 'Atomics.wait is not allowed on this thread; use the async wait');
  }
  Atomics.wait(words, index, value, timeoutMs);
}

/** True where Atomics.waitAsync exists (Chromium, Node ≥ 16, Safari ≥ 16.4; Firefox only recently). */
export const hasWaitAsync: boolean = typeof Atomics.waitAsync === 'function';

let fallbackForced = false;

/** Makes every async wait of this thread use the timer fallback, as where Atomics.waitAsync is missing. */
export function forceWaitAsyncFallback(on: boolean): void {
  fallbackForced = on;
}

const timers = globalThis as unknown as TimerHost;

/**
 * Resolves once `words[index]` is no longer `value` or `timeoutMs` passes. Uses Atomics.waitAsync;
 * where it is missing, falls back to polling the word on timers backing off 0, 1, 2, 4 … 8 ms, so a
 * change is seen at most ~8 ms late (plus the browser's timer clamping).
 */
export function waitAsync(words: Int32Array, index: number, value: number, timeoutMs: number): Promise<void> {
  if (hasWaitAsync && !fallbackForced) {
    const r = Atomics.waitAsync(words, index, value, timeoutMs);
    return r.async ? r.value.then(() => undefined) : Promise.resolve();
  }
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    let delay = 0;
    const poll = (): void => {
      if (Atomics.load(words, index) !== value || Date.now() >= deadline) {
        resolve();
        return;
      }
      timers.setTimeout(poll, delay);
      delay = delay === 0 ? 1 : Math.min(delay * 2, 8);
    };
    poll();
  });
}
