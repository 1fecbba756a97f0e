import { describe, expect, it } from 'vitest';
import { BuiltinKnownAnswers, mimicTaskId, moduleKeyOf, type ReferenceOps } from '../src/trust/index.ts';
import { rng } from './support/rng.ts';

// The built-in ops' CPU references from @flock/shaders, as the coordinator passes them. Loaded by
// URL so the coordinator's Node typecheck does not pull in the package's WebGPU/DOM-typed runners.
const shaders = (await import(
  new URL('../../../shaders/src/index.ts', import.meta.url).href
)) as ReferenceOps;
const ops: ReferenceOps = { getOp: shaders.getOp, measureError: shaders.measureError };

function f32(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

describe('known answers from the built-in ops’ CPU references', () => {
  it('imitates a real task: same op, params, input sizes and id shape, fresh inputs', async () => {
    const template = {
      task_id: 'job-7f3a9c21',
      op: 'saxpy',
      version: '1.0.0',
      module: { kind: 'builtin' as const },
      requirements: { min: { webgpu: true } },
      inputs: [
        { name: 'x', content_type: 'application/octet-stream', inline_bytes: f32([1, 2, 3, 4]) },
        { name: 'y', content_type: 'application/octet-stream', inline_bytes: f32([0, 0, 0, 0]) },
      ],
      params: { a: 3 },
      security: { task_token: 'hmac:requester' },
      campaign_id: 'c1',
    };
    const source = new BuiltinKnownAnswers(ops);
    const answer = (await source.make({
      workerId: 'w',
      adapterClass: 'cpu/wasm',
      template,
      random: rng(1),
    }))!;
    const env = answer.envelope;
    expect(env.task_id).toMatch(/^job-[0-9a-f]{8}$/);
    expect(env.task_id).not.toBe(template.task_id);
    expect(env).toMatchObject({ op: 'saxpy', version: '1.0.0', params: { a: 3 }, campaign_id: 'c1' });
    expect(env.requirements).toEqual({ min: { webgpu: true } });
    expect(env.security).toBeUndefined();
    expect(env.inputs!.map((i) => [i.name, i.inline_bytes!.byteLength])).toEqual([
      ['x', 16],
      ['y', 16],
    ]);
    expect(env.inputs![0]!.inline_bytes).not.toEqual(template.inputs[0]!.inline_bytes);
    expect(answer.moduleHash).toBe('builtin:saxpy');

    // The expected output is 3·x + y of the fresh inputs, element by element.
    const x = new Float32Array(answer.inputs['x']!.slice().buffer);
    const y = new Float32Array(answer.inputs['y']!.slice().buffer);
    const expected = new Float32Array(answer.expected['out']!.slice().buffer);
    for (let i = 0; i < 4; i++) expect(expected[i]).toBe(Math.fround(Math.fround(3) * x[i]! + y[i]!));

    expect(source.check(answer, [{ name: 'out', bytes: answer.expected['out']! }])).toBe(true);
    const wrong = answer.expected['out']!.slice();
    wrong[0]! ^= 0x40; // flip one exponent bit of element 0
    expect(source.check(answer, [{ name: 'out', bytes: wrong }])).toBe(false);
    expect(source.check(answer, [{ name: 'out', hash: 'sha256:00' }])).toBe(false);
    expect(source.check(answer, [])).toBe(false);
  });

  it('without a template makes one of the default checks, deterministic under a seed', async () => {
    const source = new BuiltinKnownAnswers(ops);
    const a = (await source.make({
      workerId: 'w',
      adapterClass: 'cpu/wasm',
      template: undefined,
      random: rng(5),
    }))!;
    const b = (await source.make({
      workerId: 'w',
      adapterClass: 'cpu/wasm',
      template: undefined,
      random: rng(5),
    }))!;
    expect(['saxpy', 'reduce_sum', 'matmul']).toContain(a.op);
    expect(a.envelope.task_id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(b.expected).toEqual(a.expected);
    expect(
      source.check(
        a,
        Object.entries(a.expected).map(([name, bytes]) => ({ name, bytes })),
      ),
    ).toBe(true);
  });

  it('falls back to a default check when the template is not a built-in task', async () => {
    const source = new BuiltinKnownAnswers(ops, [{ op: 'reduce_sum', params: {}, elements: { x: 256 } }]);
    const answer = (await source.make({
      workerId: 'w',
      adapterClass: 'cpu/wasm',
      template: { task_id: 't-1', op: 'mine', module: { kind: 'wasm', hash: 'sha256:ab' } },
      random: rng(2),
    }))!;
    expect(answer.op).toBe('reduce_sum');
    expect(answer.inputs['x']!.byteLength).toBe(1024);
  });

  it('keys reputation by module hash, or kind and op for built-ins', () => {
    expect(moduleKeyOf({ op: 'fft', module: { kind: 'wasm', hash: 'sha256:cd' } })).toBe('sha256:cd');
    expect(moduleKeyOf({ op: 'matmul', module: { kind: 'builtin' } })).toBe('builtin:matmul');
    expect(mimicTaskId('T-12-ab', rng(3))).toMatch(/^T-[0-9]{2}-ab$/);
    expect(mimicTaskId('run42.B7F0', rng(3))).toMatch(/^run[0-9]{2}\.[0-9A-F]{4}$/);
  });
});
