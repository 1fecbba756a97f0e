import { describe, expect, it } from 'vitest';
import { ExecutorError } from '../src/executor-error.ts';
import { capMemory, inspectWasm } from '../src/wasm-binary.ts';
import { fixture } from './fixtures.ts';

describe('inspectWasm', () => {
  it('lists the imports of a WASI command and its own memory', () => {
    const info = inspectWasm(fixture('forbidden-import'));
    expect(info.imports).toContainEqual({ module: 'env', name: 'steal_cookies', kind: 'function' });
    expect(info.memories).toHaveLength(1);
    expect(info.memories[0]!.maximum).toBeUndefined();
  });

  it('reads an imported memory of a kernel', () => {
    const info = inspectWasm(fixture('kernel-empty'));
    expect(info.imports).toEqual([
      { module: 'env', name: 'memory', kind: 'memory', memory: { initial: 2, shared: false } },
    ]);
    expect(info.memories).toEqual([]);
  });

  it('refuses bytes that are not WebAssembly', () => {
    expect(() => inspectWasm(new TextEncoder().encode('\0asm but not really'))).toThrow(ExecutorError);
  });
});

describe('capMemory', () => {
  it('writes the ceiling into the memory section and the engine enforces it', async () => {
    const capped = capMemory(fixture('memory-bomb'), 40);
    expect(inspectWasm(capped).memories[0]!.maximum).toBe(40);
    const module = await WebAssembly.compile(capped as Uint8Array<ArrayBuffer>);
    expect(WebAssembly.Module.exports(module).map((e) => e.name)).toContain('memory');
  });

  it('refuses a module whose initial memory is above the ceiling', () => {
    try {
      capMemory(fixture('memory-bomb'), 1);
      expect.unreachable();
    } catch (error) {
      expect((error as ExecutorError).code).toBe('MEMORY_LIMIT');
    }
  });
});
