// binaryen stays off the coordinator's main thread: what module-meter.ts imports when the first
// WASM module arrives must not reach it. Under tsx (how `npm start` runs the coordinator) binaryen's
// 12 MB took about 20 s to load on the main thread, so a fresh coordinator's first submission of a
// module waited that long, and on a busy machine its connection was closed unanswered at
// FLOCK_IDLE_TIMEOUT_MS; on the FuelThread it loads in about 1 s.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { expect, test } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

/** Specifiers a module imports for their values: static `import … from` and `import()`, not `import type`. */
function valueImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/^import (?!type )[^;]*?from '([^']+)'/gms)) found.push(m[1]!);
  for (const m of text.matchAll(/import\('([^']+)'\)/g)) found.push(m[1]!);
  return found;
}

/** Every module `file` reaches through value imports: relative files walked, packages by name. */
function reach(file: string, seen = new Set<string>()): Set<string> {
  for (const spec of valueImports(file)) {
    const target = spec.startsWith('.') ? resolve(dirname(file), spec) : spec;
    if (seen.has(target)) continue;
    seen.add(target);
    if (spec.startsWith('.')) reach(target, seen);
  }
  return seen;
}

test('the modules the main thread loads for fuel metering do not import binaryen', () => {
  const meter = resolve(SRC, 'edge/module-meter.ts');
  const lazy = [...readFileSync(meter, 'utf8').matchAll(/import\('(\.\.\/fuel\/[^']+)'\)/g)].map(
    (m) => m[1]!,
  );
  expect(lazy.sort()).toEqual(['../fuel/fuel-modules.ts', '../fuel/fuel-thread-client.ts']);
  const reached = reach(meter);
  expect([...reached].filter((m) => m === 'binaryen')).toEqual([]);
  // The walk does see binaryen where it is: the thread's own entry loads it.
  expect(reach(resolve(SRC, 'fuel/fuel-thread.ts')).has('binaryen')).toBe(true);
});
