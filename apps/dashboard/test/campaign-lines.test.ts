// A built-in op campaign's lines: params and inputs per task, and what a bad line is told.
import { OPS } from '@flock/shaders';
import { describe, expect, it } from 'vitest';
import { BUILTIN_OPS } from '../src/builtin-catalog.ts';
import { builtinCampaignLine, exampleCampaignLine } from '../src/campaign-lines.ts';

const op = (name: string) => BUILTIN_OPS.find((o) => o.op === name)!;
const f32 = (...values: number[]) => new Uint8Array(new Float32Array(values).buffer);

describe('builtinCampaignLine', () => {
  it('splits a line into params and the op inputs, encoded to their dtype', () => {
    const task = builtinCampaignLine(op('saxpy'), '{"a": 2, "x": [1, 2], "y": "3 4"}');
    expect(task.params).toEqual({ a: 2 });
    expect(task.inputs).toEqual([
      {
        name: 'x',
        content_type: 'application/octet-stream',
        inline_bytes: f32(1, 2),
        tensor: { dtype: 'f32' },
      },
      {
        name: 'y',
        content_type: 'application/octet-stream',
        inline_bytes: f32(3, 4),
        tensor: { dtype: 'f32' },
      },
    ]);
    expect(builtinCampaignLine(op('mandelbrot'), '{"width": 8, "height": 4}')).toEqual({
      params: { width: 8, height: 4 },
      inputs: [],
    });
  });

  it('says which input is missing or not numbers', () => {
    expect(() => builtinCampaignLine(op('saxpy'), '{"a": 2, "x": [1]}')).toThrow(
      'input "y" (f32[n]) is missing: add "y": [10, 20, 30, 40]',
    );
    expect(() => builtinCampaignLine(op('saxpy'), '{"x": [1, "b"], "y": [1, 2]}')).toThrow(
      'input "x" must be a list of numbers, e.g. "x": [1, 2, 3, 4]',
    );
    expect(() => builtinCampaignLine(op('histogram'), '{"values": "1 -2", "bins": 2}')).toThrow(
      'input "values": "-2" is not a non-negative integer',
    );
    expect(() => builtinCampaignLine(op('saxpy'), '[1]')).toThrow('Params must be a JSON object');
  });

  it('reads back every op example line as inputs the op accepts (no param shares an input name)', async () => {
    for (const entry of BUILTIN_OPS) {
      const names = entry.inputs.map((t) => t.name);
      expect(
        entry.params.filter((p) => names.includes(p.name)),
        entry.op,
      ).toEqual([]);
      const task = builtinCampaignLine(entry, exampleCampaignLine(entry));
      expect(task.params, entry.op).toEqual(entry.example.params);
      const inputs = Object.fromEntries(task.inputs.map((i) => [i.name!, i.inline_bytes!]));
      const outputs = await OPS[entry.op as keyof typeof OPS].prepare(inputs, task.params).reference();
      expect(Object.keys(outputs).sort(), entry.op).toEqual(entry.outputs.map((t) => t.name).sort());
    }
  });
});
