// Renders the op reference of README.md from the manifests, so the README cannot drift from them.
import { BUILTIN_OPS, type ErrorBound, getOp, paramsLayoutOf } from '../../src/index.ts';

function bound(b: ErrorBound): string {
  switch (b.metric) {
    case 'exact':
      return 'bit-exact (byte-identical to the reference)';
    case 'rel_l2':
      return `relative L2 error ‖out − ref‖₂ / ‖ref‖₂ ≤ ${b.bound.toExponential()} (reference in f64)`;
    case 'abs_over_l1':
      return `|out − ref| / Σ|x| ≤ ${b.bound.toExponential()} (reference in f64)`;
    case 'mismatch_fraction':
      return `at most ${b.bound * 100}% of the elements differ from the f32-emulating reference`;
  }
}

/** The markdown of every op, in registry order. */
export function renderOpsReference(): string {
  const parts: string[] = [];
  for (const op of BUILTIN_OPS) {
    const def = getOp(op);
    const tensors = (list: typeof def.inputs) =>
      list.length === 0
        ? 'none'
        : list.map((t) => `\`${t.name}\` ${t.dtype}[${t.shape.join(', ')}] (${t.doc})`).join('; ');
    const params =
      def.params.length === 0
        ? 'none'
        : def.params
            .map((p) => {
              const range =
                p.min !== undefined || p.max !== undefined ? `, ${p.min ?? ''}..${p.max ?? ''}` : '';
              const dflt = p.default === undefined ? ', required' : `, default ${JSON.stringify(p.default)}`;
              return `\`${p.name}\` ${p.type}${dflt}${range} (${p.doc})`;
            })
            .join('; ');
    const [x, y, z] = def.workgroupSize;
    parts.push(
      [
        `### \`${op}\``,
        '',
        def.summary,
        '',
        `- inputs: ${tensors(def.inputs)}`,
        `- outputs: ${tensors(def.outputs)}`,
        `- params: ${params}`,
        `- WGSL: \`${op}.wgsl\`, entry \`${op}\`, workgroup ${x}x${y}x${z}, ${def.workgroupStorageBytes} B workgroup memory, ` +
          `uniform \`Params { ${paramsLayoutOf(def)
            .fields.map((f) => `${f.name}: ${f.type}`)
            .join(', ')} }\``,
        `- bindings (group 0): ${def.bindings.map((b) => `${b.binding} \`${b.name}\` ${b.access}`).join(', ')}`,
        `- dispatch: ${def.dispatch}`,
        `- limits: ${def.sizeLimits}`,
        `- error bound: ${bound(def.errorBound)}`,
        `- executors: WGSL, ${def.hasWasm ? 'WASM SIMD (scalar where SIMD is missing)' : 'JS reference'} on CPU-only tabs`,
      ].join('\n'),
    );
  }
  return parts.join('\n\n');
}
