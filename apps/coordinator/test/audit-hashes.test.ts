// The audit row's output hash (engine/audit-hashes.ts): computed directly for every success, it
// must equal the trust engine's exact digest of the same outputs, byte for byte.
import { createHash } from 'node:crypto';
import type { ComputeResult } from '@flock/protocol';
import { expect, test } from 'vitest';
import { digestOutputHash, outputHashOf } from '../src/engine/audit-hashes.ts';

const hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

test('one inline JSON output: sha256 over "<len>:<name>=sha256:<hex of its UTF-8>\\n"', () => {
  const result: ComputeResult = { task_id: 't', outputs: [{ name: 'sum', inline_json: '120' }] };
  const want = `sha256:${hex(`3:sum=sha256:${hex('120')}\n`)}`;
  expect(outputHashOf(result)).toBe(want);
  expect(digestOutputHash(result)).toBe(want);
});

test('outputs in name order whatever their order, unnamed ones as #<index>, bytes, JSON and declared hashes', () => {
  const declared = `sha256:${'ab'.repeat(32)}`;
  const result: ComputeResult = {
    task_id: 't',
    outputs: [
      { name: 'zeta', inline_bytes: new Uint8Array([1, 2, 3]) },
      { inline_json: '"é \u{1F600}"' },
      { name: 'alpha', uri: 'flock:blob', hash: declared },
      { name: 'mid', inline_json: '{"a":[1,2]}' },
    ],
  };
  const lines = [
    `2:#1=sha256:${hex(Buffer.from('"é \u{1F600}"', 'utf8'))}\n`,
    `5:alpha=${declared}\n`,
    `3:mid=sha256:${hex('{"a":[1,2]}')}\n`,
    `4:zeta=sha256:${hex(new Uint8Array([1, 2, 3]))}\n`,
  ].join('');
  expect(outputHashOf(result)).toBe(`sha256:${hex(lines)}`);
  expect(outputHashOf(result)).toBe(digestOutputHash(result));
});

test('equal to the general digest for no outputs, equal names, a lone surrogate; undefined without bytes or hash', () => {
  const cases: ComputeResult[] = [
    { task_id: 't', outputs: [] },
    { task_id: 't' },
    {
      task_id: 't',
      outputs: [
        { name: 'x', inline_json: '2' },
        { name: 'x', inline_json: '1' },
      ],
    },
    { task_id: 't', outputs: [{ name: 's', inline_json: '"\uD800"' }] },
  ];
  for (const result of cases) {
    expect(outputHashOf(result)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(outputHashOf(result)).toBe(digestOutputHash(result));
  }
  const missing: ComputeResult = {
    task_id: 't',
    outputs: [
      { name: 'a', inline_json: '1' },
      { name: 'b', uri: 'https://x' },
    ],
  };
  expect(outputHashOf(missing)).toBeUndefined();
  expect(digestOutputHash(missing)).toBeUndefined();
});
