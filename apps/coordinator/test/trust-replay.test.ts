import { describe, expect, it } from 'vitest';
import {
  FirstKnownAnswers,
  type KnownAnswer,
  type KnownAnswerSource,
  MemoryTrustStore,
  ReplayKnownAnswers,
  resolvePolicy,
  TrustEngine,
} from '../src/trust/index.ts';

const random = () => 0.25;
const env = {
  task_id: 'job-1234abcd',
  op: 'render',
  module: { kind: 'wasm' as const, hash: 'sha256:aa' },
  inputs: [{ name: 'scene', inline_bytes: Uint8Array.of(1, 2, 3) }],
  security: { task_token: 'hmac:x' },
};
const exact = resolvePolicy({ replicas: 2 });

function f32(...v: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(v).buffer);
}

describe('replayed known answers', () => {
  it('replays a validated task to a worker that did not run it, under a fresh id of the same shape', async () => {
    const replay = new ReplayKnownAnswers();
    expect(replay.remember(env, [{ name: 'img', bytes: Uint8Array.of(9, 9) }], exact, ['a', 'b'])).toBe(true);
    expect(
      await replay.make({ workerId: 'a', adapterClass: 'cpu/wasm', template: env, random }),
    ).toBeUndefined();
    const answer = (await replay.make({ workerId: 'c', adapterClass: 'cpu/wasm', template: env, random }))!;
    expect(answer.envelope.task_id).toMatch(/^job-[0-9a-f]{8}$/);
    expect(answer.envelope.task_id).not.toBe(env.task_id);
    expect(answer.envelope.inputs).toEqual(env.inputs);
    expect(answer.envelope.security).toBeUndefined();
    expect(answer.moduleHash).toBe('sha256:aa');
    expect(replay.check(answer, [{ name: 'img', bytes: Uint8Array.of(9, 9) }])).toBe(true);
    expect(replay.check(answer, [{ name: 'img', bytes: Uint8Array.of(9, 8) }])).toBe(false);
    expect(replay.check(answer, [{ name: 'other', bytes: Uint8Array.of(9, 9) }])).toBe(false);
    expect(replay.check(answer, [{ name: 'img' }])).toBe(false);
  });

  it('judges replayed tolerance tasks within the task’s own bounds', async () => {
    const replay = new ReplayKnownAnswers();
    const policy = resolvePolicy({ replicas: 2, comparator: 'tolerance', abs_tolerance: 0.01 });
    replay.remember(env, [{ name: 'v', bytes: f32(1, 2) }], policy, ['a', 'b']);
    const answer = (await replay.make({ workerId: 'c', adapterClass: 'cpu/wasm', template: env, random }))!;
    expect(answer.tolerance).toEqual({ abs: 0.01, rel: 0 });
    expect(replay.check(answer, [{ name: 'v', bytes: f32(1.005, 2) }])).toBe(true);
    expect(replay.check(answer, [{ name: 'v', bytes: f32(1.02, 2) }])).toBe(false);
    expect(replay.check(answer, [{ name: 'v', bytes: Uint8Array.of(1, 2, 3) }])).toBe(false);
  });

  it('keeps at most perModule tasks per module and refuses outputs without bytes', () => {
    const replay = new ReplayKnownAnswers(2);
    for (let i = 0; i < 3; i++)
      replay.remember(env, [{ name: 'img', bytes: Uint8Array.of(i) }], exact, ['a']);
    expect(replay.size('sha256:aa')).toBe(2);
    expect(replay.remember(env, [{ name: 'img', hash: 'sha256:00' }], exact, ['a'])).toBe(false);
  });

  it('falls through to the next source and judges with the one that made the check', async () => {
    const fixed: KnownAnswerSource = {
      async make(): Promise<KnownAnswer> {
        return {
          envelope: { task_id: 'k-1', op: 'saxpy' },
          moduleHash: 'builtin:saxpy',
          op: 'saxpy',
          inputs: {},
          expected: {},
        };
      },
      check: (_a, outputs) => outputs.length === 0,
    };
    const replay = new ReplayKnownAnswers();
    const first = new FirstKnownAnswers([replay, fixed]);
    const a1 = (await first.make({ workerId: 'c', adapterClass: 'cpu/wasm', template: env, random }))!;
    expect(a1).toMatchObject({ op: 'saxpy', source: 1 });
    expect(await first.check(a1, [])).toBe(true);
    replay.remember(env, [{ name: 'img', bytes: Uint8Array.of(7) }], exact, ['a', 'b']);
    const a2 = (await first.make({ workerId: 'c', adapterClass: 'cpu/wasm', template: env, random }))!;
    expect(a2).toMatchObject({ op: 'render', source: 0 });
    expect(await first.check(a2, [{ name: 'img', bytes: Uint8Array.of(7) }])).toBe(true);
    expect(await first.check(a2, [])).toBe(false);
  });

  it('builds reputation on the replayed module through the engine', async () => {
    const replay = new ReplayKnownAnswers();
    replay.remember(env, [{ name: 'img', bytes: Uint8Array.of(5) }], exact, ['a', 'b']);
    const store = new MemoryTrustStore();
    const engine = new TrustEngine({ store, knownAnswers: replay, random });
    const check = (await engine.issueSpotCheck({ workerId: 'c', adapterClass: 'cpu/wasm' }, env))!;
    expect(
      await engine.submitSpotCheck(check.checkId, 'c', [{ name: 'img', bytes: Uint8Array.of(5) }]),
    ).toEqual({
      passed: true,
      reverify: [],
    });
    expect(await store.getReputation('c', 'sha256:aa', 'cpu/wasm')).toMatchObject({
      consecutiveValid: 1,
      valid: 1,
    });
  });
});
