// One pass over a module before it is instrumented: which functions use exception handling, and
// whether fuel can be passed between functions as a parameter (FuelPassing) or must go through
// the global at every call (SyncLinkage).
import binaryen from 'binaryen';
import { expressionId, getFunctionBody } from './binaryen-raw.ts';
import { idOf, mapChildren } from './expression-children.ts';

const EXCEPTIONS = new Set(['Try', 'Throw', 'Rethrow'].map(expressionId));
// Function references that could reach the host or a table slot the module does not write.
const FUNCTION_REFERENCES = new Set(
  ['RefFunc', 'CallRef', 'TableGet', 'TableSet', 'TableGrow'].map(expressionId),
);
const NUMERIC = new Set([binaryen.i32, binaryen.i64, binaryen.f32, binaryen.f64, binaryen.v128]);

/** What the instrumentation needs to know about a module before it changes anything. */
export interface ModuleScan {
  /** Names of defined functions with `try`, `throw` or `rethrow` (their fuel stays in the global). */
  exceptions: Set<string>;
  /** Why fuel cannot be passed as a parameter between functions; undefined when it can. */
  notPassable: string | undefined;
}

/** Scans every defined function body and the module's tables, exports, globals and element segments. */
export function scanModule(module: binaryen.Module): ModuleScan {
  const exceptions = new Set<string>();
  const imported = new Set<string>();
  let notPassable: string | undefined;
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const func = module.getFunctionByIndex(i);
    const name = binaryen.getFunctionInfo(func).name;
    const body = getFunctionBody(func);
    if (body === 0) {
      imported.add(name);
      continue;
    }
    const visit = (expr: number): number => {
      const id = idOf(expr);
      if (EXCEPTIONS.has(id)) exceptions.add(name);
      if (FUNCTION_REFERENCES.has(id)) notPassable ??= `function ${name} uses function references`;
      mapChildren(expr, visit);
      return expr;
    };
    visit(body);
  }
  if (exceptions.size > 0) notPassable ??= 'the module uses exception handling';
  for (let i = 0; i < module.getNumTables(); i++) {
    if (binaryen.getTableInfo(module.getTableByIndex(i)).module) notPassable ??= 'a table is imported';
  }
  for (let i = 0; i < module.getNumExports(); i++) {
    if (binaryen.getExportInfo(module.getExportByIndex(i)).kind === binaryen.ExternalTable) {
      notPassable ??= 'a table is exported';
    }
  }
  for (let i = 0; i < module.getNumGlobals(); i++) {
    if (!NUMERIC.has(binaryen.getGlobalInfo(module.getGlobalByIndex(i)).type)) {
      notPassable ??= 'a global holds a reference';
    }
  }
  for (let i = 0; i < module.getNumElementSegments(); i++) {
    const { data } = binaryen.getElementSegmentInfo(module.getElementSegmentByIndex(i));
    if (data.some((name) => !name || imported.has(name))) {
      notPassable ??= 'a table holds an imported function or a null';
    }
  }
  return { exceptions, notPassable };
}
