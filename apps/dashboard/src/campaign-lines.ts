// A line of a built-in op campaign: one JSON object per task, its params and its inputs.
import type { DataRef, JsonObject } from '@flock/protocol';
import { type CatalogOp, encodeNumbers } from './builtin-catalog.ts';
import { parseParams } from './form-parts.ts';

/**
 * Reads one campaign line for `op`: a JSON object whose keys that name one of the op's inputs
 * are that input (a list of numbers, or a string of them as the built-in form takes them) and
 * whose other keys are params, e.g. `{"a": 2, "x": [1, 2], "y": [3, 4]}` for saxpy. Throws a
 * message naming what is wrong: not an object, an input missing or not numbers.
 */
export function builtinCampaignLine(op: CatalogOp, line: string): { params: JsonObject; inputs: DataRef[] } {
  const params = parseParams(line);
  const inputs = op.inputs.map((t): DataRef => {
    const value = params[t.name];
    delete params[t.name];
    const example = `"${t.name}": [${(op.example.inputs[t.name] ?? '1 2 3').split(/\s+/).join(', ')}]`;
    if (value === undefined) {
      throw new Error(`input "${t.name}" (${t.dtype}[${t.shape.join(', ')}]) is missing: add ${example}`);
    }
    let text: string;
    if (typeof value === 'string') text = value;
    else if (Array.isArray(value) && value.every((v) => typeof v === 'number')) text = value.join(' ');
    else throw new Error(`input "${t.name}" must be a list of numbers, e.g. ${example}`);
    try {
      return {
        name: t.name,
        content_type: 'application/octet-stream',
        inline_bytes: encodeNumbers(text, t.dtype),
        tensor: { dtype: t.dtype },
      };
    } catch (caught) {
      throw new Error(`input "${t.name}": ${(caught as Error).message}`);
    }
  });
  return { params, inputs };
}

/** The op's example as one campaign line (what the form shows when the op is chosen). */
export function exampleCampaignLine(op: CatalogOp): string {
  const line: Record<string, unknown> = { ...op.example.params };
  for (const t of op.inputs) {
    line[t.name] = (op.example.inputs[t.name] ?? '').split(/\s+/).filter(Boolean).map(Number);
  }
  return JSON.stringify(line);
}
