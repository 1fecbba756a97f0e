// Placing a bridge inside a shared WebAssembly.Memory, so a kernel-ABI module reads its inputs in
// the arena where they lie. The package takes no WebAssembly types: the caller makes the Memory.
import type { Bridge } from './bridge.ts';
import { BridgeError } from './bridge-error.ts';
import { type BridgeConfig, layoutFor } from './layout.ts';

/** Bytes in a WebAssembly page. */
export const WASM_PAGE_BYTES = 65536;

/** Where a bridge goes in a shared WebAssembly.Memory and how many pages that Memory needs. */
export interface WasmPlacement {
  /** Byte offset of the bridge: `reserveBytes` rounded up to a whole page. */
  byteOffset: number;
  /** Pages for `initial` (and `maximum`) of the Memory. */
  pages: number;
}

/**
 * Places a bridge of `config` after `reserveBytes` that the module keeps for its own stack and
 * data (everything below its `__heap_base`). Create the Memory with
 * `{ initial: pages, maximum: pages, shared: true }`; its buffer is a SharedArrayBuffer.
 */
export function wasmPlacement(config: BridgeConfig, reserveBytes = WASM_PAGE_BYTES): WasmPlacement {
  if (!Number.isInteger(reserveBytes) || reserveBytes < 0) {
    throw new BridgeError('INVALID_ARGUMENT', `reserveBytes ${reserveBytes} is not a non-negative integer`);
  }
  const byteOffset = Math.ceil(reserveBytes / WASM_PAGE_BYTES) * WASM_PAGE_BYTES;
  const pages = Math.ceil((byteOffset + layoutFor(config).totalBytes) / WASM_PAGE_BYTES);
  if (pages > 65536) throw new BridgeError('INVALID_CONFIG', `${pages} pages exceed the 4 GiB of wasm32`);
  return { byteOffset, pages };
}

/**
 * Throws REGION_OVERLAP unless everything the module owns (below `heapBase`, its `__heap_base`
 * export) lies before the bridge, so neither can overwrite the other.
 */
export function assertBelowBridge(bridge: Bridge, heapBase: number): void {
  if (!Number.isInteger(heapBase) || heapBase < 0 || heapBase > bridge.byteOffset) {
    throw new BridgeError(
      'REGION_OVERLAP',
      `the module's data and stack end at ${heapBase}, the bridge starts at ${bridge.byteOffset}`,
    );
  }
}
