import type { ReplayStatus } from '@flock/client';
import { describe, expect, it } from 'vitest';
import { pollDelayMs, sourceKind, summariseReplay } from '../src/replay-summary.ts';

type Pair = ReplayStatus['pairs'][number];
const H1 = `sha256:${'1'.repeat(64)}`;
const H2 = `sha256:${'2'.repeat(64)}`;
const pair = (id: string, original: string | null, replay: string | null, state = 'succeeded'): Pair => ({
  original: { task_id: id, state: 'succeeded', output_hash: original },
  replay: { task_id: `${id}@replay-1`, state, output_hash: replay },
  equal: original !== null && replay !== null ? original === replay : null,
});
const status = (done: boolean, pairs: Pair[]): ReplayStatus => ({
  replay_id: 'c@replay-1',
  source: { kind: 'campaign', id: 'c' },
  created_at: '2026-12-07T18:00:00.000Z',
  pairs,
  done,
  equal: pairs.every((p) => p.equal === true),
});

describe('summariseReplay', () => {
  it('counts equal and differing pairs and names the replayed tasks that differ', () => {
    const replay = status(true, [pair('a', H1, H1), pair('b', H1, H2), pair('c', H2, H2), pair('d', H2, H1)]);
    expect(summariseReplay(replay)).toEqual({
      verdict: 'different',
      replayed: 4,
      equal: 2,
      different: 2,
      notCompared: 0,
      differing: ['b@replay-1', 'd@replay-1'],
    });
  });

  it('is equal only when every pair is equal', () => {
    expect(summariseReplay(status(true, [pair('a', H1, H1), pair('b', H2, H2)]))).toMatchObject({
      verdict: 'equal',
      replayed: 2,
      equal: 2,
      different: 0,
      notCompared: 0,
    });
  });

  it('is incomplete when nothing differs but a replayed task failed', () => {
    const replay = status(true, [pair('a', H1, H1), pair('b', H1, null, 'failed')]);
    expect(summariseReplay(replay)).toMatchObject({ verdict: 'incomplete', equal: 1, notCompared: 1 });
  });

  it('is running until the replay is done, whatever the pairs so far', () => {
    const replay = status(false, [pair('a', H1, H2), pair('b', H1, null, 'running')]);
    expect(summariseReplay(replay)).toMatchObject({ verdict: 'running', different: 1, notCompared: 1 });
  });
});

describe('sourceKind', () => {
  it('names the field the source carries', () => {
    expect([{ task_id: 't' }, { campaign_id: 'c' }, { workflow_id: 'w' }].map(sourceKind)).toEqual([
      'task',
      'campaign',
      'workflow',
    ]);
  });
});

describe('pollDelayMs', () => {
  it('re-reads a small replay every 0.5 s and a large one less often, at most every 5 s', () => {
    expect([0, 1, 200, 201, 1000, 2000, 10_000].map(pollDelayMs)).toEqual([
      500, 500, 500, 1000, 2500, 5000, 5000,
    ]);
  });
});
