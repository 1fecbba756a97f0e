export { Arena, type ArenaHandle, type ArenaStats } from './arena.ts';
export { attach, Bridge, type BridgeTarget, bytesFor, create } from './bridge.ts';
export { BridgeError, type BridgeErrorCode } from './bridge-error.ts';
export { handleOf, popRecord, pushRecord, sliceOf } from './bridge-record.ts';
export { decodeBridgeRecord, encodeBridgeRecord, encodeBridgeRecordScratch } from './bridge-record-codec.ts';
export { type BridgeConfig, type Layout, layoutFor, MAGIC, VERSION } from './layout.ts';
export { DEFAULT_SPIN, Ring } from './ring.ts';
export { canBlock, forceWaitAsyncFallback, hasWaitAsync, type WaitResult } from './wait.ts';
export { assertBelowBridge, WASM_PAGE_BYTES, type WasmPlacement, wasmPlacement } from './wasm-placement.ts';
