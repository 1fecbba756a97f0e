// Test-only: the exact instruction count of a run, to hold fuel metering against. Every expression
// of cost > 0 (instructionCost, the unit fuel uses) is wrapped as `{ count += cost; expression }`,
// so the exported i64 global `__flock_exact` counts each instruction when it starts. That is exact
// for a run that completes; an expression whose operand leaves it (a trap, an exit from inside a
// call) is counted without finishing, at most the depth of the tree once per such exit.
import binaryen from 'binaryen';
import { getFunctionBody, readBinary, setFunctionBody, WRITE_FEATURES } from '../src/fuel/binaryen-raw.ts';
import { idOf, mapChildren } from '../src/fuel/expression-children.ts';
import { instructionCost } from '../src/fuel/instruction-cost.ts';

/** The export name of the exact counter global. */
export const EXACT_GLOBAL = '__flock_exact';

/** Returns `bytes` with an exact instruction counter (no fuel), exported as `__flock_exact`. */
export function instrumentExactCount(bytes: Uint8Array): Uint8Array {
  const m = readBinary(bytes, binaryen.Features.All);
  try {
    const name = 'flock$exact';
    m.addGlobal(name, binaryen.i64, true, m.i64.const(0n));
    m.addGlobalExport(name, EXACT_GLOBAL);
    const count = (cost: number) =>
      m.global.set(name, m.i64.add(m.global.get(name, binaryen.i64), m.i64.const(BigInt(cost))));
    const wrap = (expr: number): number => {
      mapChildren(expr, wrap);
      const cost = instructionCost(idOf(expr));
      return cost === 0 ? expr : m.block(null, [count(cost), expr], binaryen.auto);
    };
    for (let i = 0; i < m.getNumFunctions(); i++) {
      const func = m.getFunctionByIndex(i);
      const body = getFunctionBody(func);
      if (body !== 0) setFunctionBody(func, wrap(body));
    }
    m.setFeatures(WRITE_FEATURES);
    if (!m.validate()) throw new Error('exact counter produced an invalid module');
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}
