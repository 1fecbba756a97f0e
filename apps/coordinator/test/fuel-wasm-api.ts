// Test-only: the part of the WebAssembly JS API the fuel tests and bench use, typed. Node has the
// global at run time, but the coordinator's Node typings (lib ES2024, no DOM) do not declare it,
// and declaring it globally would leak into the coordinator's own sources.

/** An exported global: `value` is a bigint for i64. */
export interface WasmGlobal {
  value: unknown;
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

/** A compiled module (opaque). */
export type WasmModule = object;

export type WasmImports = Record<string, Record<string, unknown>>;

export interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Global: abstract new (...args: never[]) => WasmGlobal;
  RuntimeError: abstract new (...args: never[]) => Error;
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports?: object): Promise<WasmInstance>;
  validate(bytes: Uint8Array): boolean;
}

/** `globalThis.WebAssembly`, typed. */
export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
