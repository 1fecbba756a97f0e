// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
import { describe, expect, test } from 'vitest';
import { MAX_WORKFLOW_STEPS, parseWorkflow, workflowJson } from '../../src/engine/workflow-definition.ts';
import { compare, parseCondition } from '../../src/engine/workflow-refs.ts';
import { CoordinatorError } from '../../src/errors.ts';

const task = { op: 'sum', module: { kind: 'builtin' }, requirements: { min: { wasm: true } } };
const step = (id: string, extra: Record<string, unknown> = {}) => ({ id, ...task, ...extra });
const parse = (body: unknown) => parseWorkflow(body, () => 'wf-generated');

/** The `{ code, field, message }` a definition is refused with. */
function refusal(body: unknown): { code: string; field: string | undefined; message: string } {
  try {
    parse(body);
  } catch (err) {
    if (err instanceof CoordinatorError) return { code: err.code, field: err.field, message: err.message };
    throw err;
  }
  throw new Error('accepted');
}

describe('workflow definitions', () => {
  test('depends_on defaults to the previous step; the stored form is explicit', () => {
    const def = parse({ steps: [step('a'), step('b'), step('c', { depends_on: ['a'] })] });
    expect(def.workflowId).toBe('wf-generated');
    expect(def.steps.map((s) => [s.id, s.dependsOn])).toEqual([
      ['a', []],
      ['b', ['a']],
      ['c', ['a']],
    ]);
    expect(def.steps.every((s) => s.onError.kind === 'abort')).toBe(true);
    const json = workflowJson(def);
    expect(json).toEqual({
      workflow_id: 'wf-generated',
      on_error: 'abort',
      steps: [
        { id: 'a', ...task, depends_on: [], on_error: 'abort' },
        { id: 'b', ...task, depends_on: ['a'], on_error: 'abort' },
        { id: 'c', ...task, depends_on: ['a'], on_error: 'abort' },
      ],
    });
    // The stored form parses to the same definition.
    expect(parse(json)).toEqual(def);
  });

  test('policies: per step over the workflow default, retry with its backoff', () => {
    const def = parse({
      workflow_id: 'w1',
      on_error: 'skip',
      steps: [
        step('a'),
        step('b', { on_error: { retry: 3, backoff_ms: 50 } }),
        step('c', { on_error: 'rollback' }),
      ],
    });
    expect(def.steps.map((s) => s.onError)).toEqual([
      { kind: 'skip' },
      { kind: 'retry', attempts: 3, backoffMs: 50 },
      { kind: 'rollback' },
    ]);
  });

  test.each([
    [{ steps: [step('a')], return_channel: 5 }, 'return_channel', 'return_channel: 1-256 characters'],
    [{ steps: [step('a')], extra: 1 }, 'extra', 'unknown field "extra"'],
    [{ steps: [step('a', { task_id: 'x' })] }, 'steps[0].task_id', 'unknown field "task_id"'],
    [{ steps: [step('a', { campaign_id: 'x' })] }, 'steps[0].campaign_id', 'unknown field "campaign_id"'],
    [{ steps: [step('a'), step('a')] }, 'steps[1].id', 'duplicate step id "a"'],
    [{ steps: [step('a.b')] }, 'steps[0].id', 'id: a letter, then up to 63 of A-Z a-z 0-9 _ -'],
    [
      { workflow_id: 'has.dot', steps: [step('a')] },
      'workflow_id',
      'workflow_id: 1-64 of A-Z a-z 0-9 _ : @ - (no dot)',
    ],
    [{ steps: [] }, 'steps', `steps must be an array of 1..${MAX_WORKFLOW_STEPS} steps`],
    [
      { steps: [step('a', { depends_on: ['zz'] })] },
      'steps[0].depends_on[0]',
      'depends_on names no step "zz"',
    ],
    [
      { steps: [step('a', { depends_on: ['c'] }), step('b'), step('c')] },
      'steps[0].depends_on',
      'depends_on has a cycle: a → c → b → a',
    ],
    [{ steps: [step('a', { depends_on: ['a'] })] }, 'steps[0].depends_on', 'depends_on has a cycle: a → a'],
    [
      {
        steps: [
          step('a'),
          step('b', { depends_on: [], inputs: [{ name: 'x', uri: '${steps.a.outputs.sum}' }] }),
        ],
      },
      'steps[1].inputs[0].uri',
      'references step "a", which is not among its dependencies',
    ],
    [
      { steps: [step('a'), step('b', { params: { n: '${steps.c.summary.n}' } }), step('c')] },
      'steps[1].params.n',
      'references step "c", which is not among its dependencies',
    ],
    [
      { steps: [step('a'), step('b', { params: { n: '${steps.a.outputs.sum}' } })] },
      'steps[1].params.n',
      'params reference summaries (${steps.<id>.summary.<key>}) or ${item}',
    ],
    [
      { steps: [step('a'), step('b', { params: { n: '${steps.a.sumary.n}' } })] },
      'steps[1].params.n',
      'malformed reference ${steps.a.sumary.n}',
    ],
    [
      { steps: [step('a'), step('b', { inputs: [{ name: 'x', inline_json: '${steps.a.outputs.s}' }] })] },
      'steps[1].inputs[0].inline_json',
      'an input references `"uri": "${steps.<id>.outputs.<name>}"` (or ${item})',
    ],
    [
      { steps: [step('a', { params: { v: '${item}' } })] },
      'steps[0].params.v',
      '${item} is only known in a for_each step',
    ],
    [
      { steps: [step('a'), step('b', { when: '${steps.a.summary.n} =< 10' })] },
      'steps[1].when',
      'when: expected <operand> <op> <operand>, op one of < <= == != >= >',
    ],
    [
      { steps: [step('a'), step('b', { when: '${steps.a.summary.n} < 1+2' })] },
      'steps[1].when',
      'when: bad operand 1+2 (a number, "text" or a word)',
    ],
    [
      { steps: [step('a'), step('b', { when: '${steps.a.summary.n}' })] },
      'steps[1].when',
      'when: expected <operand> <op> <operand>, op one of < <= == != >= >',
    ],
    [
      { steps: [step('a'), step('b', { when: '${steps.a.outputs.n} > 1' })] },
      'steps[1].when',
      'when: a condition compares summaries, not ${steps.a.outputs.n}',
    ],
    [
      { steps: [step('a'), step('b', { depends_on: [], when: '${steps.a.summary.n} > 1' })] },
      'steps[1].when',
      'references step "a", which is not among its dependencies',
    ],
    [
      { steps: [step('a', { on_error: { retry: 0 } })] },
      'steps[0].on_error.retry',
      'retry: 1..10 more attempts',
    ],
    [
      { steps: [step('a', { on_error: 'ignore' })] },
      'steps[0].on_error',
      'on_error: "abort", "skip", "rollback" or { "retry": n, "backoff_ms": ms }',
    ],
    [
      { steps: [step('a'), step('b', { for_each: '${steps.a.summary.x}' })] },
      'steps[1].for_each',
      'for_each: "${steps.<id>.outputs}" or "${steps.<id>.outputs.<name>}" (a JSON list)',
    ],
    [
      { steps: [step('a', { compensate: { ...task, params: { v: '${steps.b.summary.n}' } } }), step('b')] },
      'steps[0].compensate.params.v',
      'a compensation references its step or the step’s dependencies',
    ],
    [
      {
        steps: [
          step('a'),
          step('m', { for_each: '${steps.a.outputs}' }),
          step('b', { when: '${steps.m.summary.sum} > 0' }),
        ],
      },
      'steps[2].when',
      'step "m" is a for_each step, which has no summary (pass on its outputs)',
    ],
    [
      {
        steps: [
          step('a'),
          step('m', { for_each: '${steps.a.outputs}' }),
          step('b', { compensate: { ...task, params: { n: 'of ${steps.m.summary.sum}' } } }),
        ],
      },
      'steps[2].compensate.params.n',
      'step "m" is a for_each step, which has no summary (pass on its outputs)',
    ],
    [
      { steps: [step('a'), step('b', { params: { '${steps.a.summary.n}': 1 } })] },
      'steps[1].params.${steps.a.summary.n}',
      'references are allowed in params values, not keys',
    ],
    [
      {
        steps: [
          step('a'),
          step('b', { inputs: [{ name: 'p', uri: '${steps.a.outputs.sum}', inline_json: '1' }] }),
        ],
      },
      'steps[1].inputs[0].inline_json',
      'a referenced input takes its inline_json from the output',
    ],
    [
      {
        steps: [
          step('a', { params: { list: 2 } }),
          step('b', {
            for_each: '${steps.a.outputs}',
            inputs: [{ name: 'p', uri: '${item}', hash: 'sha256:00' }],
          }),
        ],
      },
      'steps[1].inputs[0].hash',
      'a referenced input takes its hash from the output',
    ],
    [
      { steps: [step('a', { module: { kind: 'builtin', uri: '${steps.x.outputs.m}' } })] },
      'steps[0].module',
      'references are allowed in inputs and params only',
    ],
  ])('refused with the field: %#', (body, field, message) => {
    expect(refusal(body)).toEqual({ code: 'INVALID_ARGUMENT', field, message });
  });

  test('a stored definition is read back without the submit-time reference checks', () => {
    // Stored before a check was added: it must still recover and show, not stop the start.
    const old = {
      workflow_id: 'w-old',
      steps: [
        step('a'),
        step('m', { for_each: '${steps.a.outputs}' }),
        step('b', { when: '${steps.m.summary.n} > 0' }),
      ],
    };
    expect(refusal(old).field).toBe('steps[2].when');
    const def = parseWorkflow(old, () => 'unused', true);
    expect(def.steps.map((s) => [s.id, s.dependsOn])).toEqual([
      ['a', []],
      ['m', ['a']],
      ['b', ['m']],
    ]);
  });

  test('too many steps is refused; the limit itself is accepted', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => step(`s${i}`));
    expect(parse({ steps: many(MAX_WORKFLOW_STEPS) }).steps).toHaveLength(MAX_WORKFLOW_STEPS);
    expect(refusal({ steps: many(MAX_WORKFLOW_STEPS + 1) }).field).toBe('steps');
  });

  test('references to ancestors, items and the step’s own outputs in its compensation are accepted', () => {
    const def = parse({
      steps: [
        step('a', { compensate: { ...task, inputs: [{ name: 'x', uri: '${steps.a.outputs.sum}' }] } }),
        step('b', {
          for_each: '${steps.a.outputs}',
          inputs: [{ name: 'x', uri: '${item}' }],
          params: { i: '${item}' },
        }),
        step('c', {
          inputs: [{ name: 'all', uri: '${steps.b.outputs.sum}' }],
          when: '${steps.a.summary.sum} >= 3',
        }),
      ],
    });
    expect(def.steps[1]!.forEach).toEqual({ kind: 'outputs', step: 'a' });
    expect(def.steps[2]!.when).toBe('${steps.a.summary.sum} >= 3');
  });

  test('conditions compare numbers as numbers and other text as text', () => {
    expect(parseCondition('${steps.a.summary.n} < 10')).toEqual({
      left: { ref: { kind: 'summary', step: 'a', key: 'n' } },
      op: '<',
      right: { literal: '10' },
    });
    expect(compare('9', '<', '10')).toBe(true);
    expect(compare('9', '<', '10a')).toBe(false);
    expect(compare('ok', '==', 'ok')).toBe(true);
    expect(compare('2.0', '==', '2')).toBe(true);
    expect(compare('2', '!=', '3')).toBe(true);
    expect(compare('3', '>=', '3')).toBe(true);
    expect(compare('3', '>', '3')).toBe(false);
    expect(compare('3', '<=', '2')).toBe(false);
    expect(parseCondition('${steps.a.summary.s} == "done"').right).toEqual({ literal: 'done' });
  });
});
