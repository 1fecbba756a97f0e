// Ties each WGSL file to its manifest: entry point, bindings, workgroup size, workgroup memory,
// the Params struct against the values every pass supplies, and the nbody Body layout.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BUILTIN_OPS, getOp, paramsLayoutOf } from '../src/index.ts';
import { allCases } from './support/cases.ts';

const SCALAR_BYTES: Record<string, number> = { f32: 4, u32: 4, i32: 4, 'atomic<u32>': 4, 'vec4<f32>': 16 };

describe.each(BUILTIN_OPS)('%s.wgsl', (op) => {
  const def = getOp(op);
  const source = readFileSync(new URL(`../${op}.wgsl`, import.meta.url), 'utf8');

  it('is the source the manifest carries, with one entry point named after the op', () => {
    expect(def.wgsl).toBe(source);
    expect(source.match(/@compute/g)).toHaveLength(1);
    expect(source).toMatch(new RegExp(`@compute @workgroup_size\\([^)]*\\)\\s*fn ${op}\\(`));
  });

  it('declares the manifest workgroup size and workgroup memory', () => {
    const size = /@workgroup_size\(([^)]*)\)/
      .exec(source)![1]!
      .split(',')
      .map((s) => Number(s.trim()));
    expect([size[0], size[1] ?? 1, size[2] ?? 1]).toEqual([...def.workgroupSize]);
    let bytes = 0;
    for (const m of source.matchAll(/var<workgroup>\s+\w+\s*:\s*array<(.+),\s*(\d+)>;/g)) {
      bytes += SCALAR_BYTES[m[1]!.trim()]! * Number(m[2]);
    }
    expect(bytes).toBe(def.workgroupStorageBytes);
  });

  it('declares the manifest bindings, one per plan slot after Params; every pass fills Params exactly', () => {
    const bindings = [...source.matchAll(/@group\(0\) @binding\((\d+)\) var<([\w, ]+)> (\w+)/g)].map((m) => ({
      index: Number(m[1]),
      space: m[2]!,
      name: m[3]!,
    }));
    expect(bindings.map((b) => b.index)).toEqual(bindings.map((_, i) => i));
    const access = (space: string) => (space === 'uniform' ? 'uniform' : space.replace('storage, ', ''));
    expect(bindings.map((b) => ({ binding: b.index, name: b.name, access: access(b.space) }))).toEqual(
      def.bindings,
    );
    const fields = paramsLayoutOf(def).fields.map((f) => f.name);
    const cases = allCases().filter((c) => c.op === op);
    expect(cases.length).toBeGreaterThanOrEqual(3);
    for (const c of cases) {
      const plan = def.prepare(c.inputs, c.params).gpuPlan();
      for (const pass of plan.passes) {
        expect(Object.keys(pass.params).sort()).toEqual([...fields].sort());
        expect(pass.bindings).toHaveLength(bindings.length - 1);
        for (const name of pass.bindings) expect(plan.buffers).toHaveProperty(name);
      }
      for (const out of Object.values(plan.outputs)) expect(plan.buffers).toHaveProperty(out.buffer);
      expect(Object.keys(plan.outputs).sort()).toEqual(def.outputs.map((o) => o.name).sort());
    }
  });
});

describe('struct layouts shared with the host', () => {
  it('nbody Body is the 8-f32 row of the bodies tensor', () => {
    const source = getOp('nbody_step').wgsl;
    const body = /struct Body \{([^}]*)\}/.exec(source)![1]!;
    const fields = [...body.matchAll(/(\w+): (vec4<f32>)/g)].map((m) => [m[1], SCALAR_BYTES[m[2]!]]);
    expect(fields).toEqual([
      ['pos', 16],
      ['vel', 16],
    ]);
    expect(getOp('nbody_step').inputs[0]!.shape).toEqual(['n', '8']);
  });

  it('Params offsets are 4 bytes apart and the buffer is padded to 16', () => {
    const layout = paramsLayoutOf(getOp('mandelbrot'));
    expect(layout.fields.map((f) => [f.name, f.type, f.offset])).toEqual([
      ['width', 'u32', 0],
      ['height', 'u32', 4],
      ['max_iter', 'u32', 8],
      ['x0', 'f32', 12],
      ['y0', 'f32', 16],
      ['dx', 'f32', 20],
      ['dy', 'f32', 24],
    ]);
    expect(layout.size).toBe(32);
  });
});
