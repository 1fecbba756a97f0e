// What a replay came to, counted from `GET /v1/replay/:id`: the replay panel's summary line.
import type { ReplaySource, ReplayStatus } from '@flock/client';

/**
 * `running` until every replayed task finished; then `equal` (every pair equal), `different` (at
 * least one pair's outputs differ) or `incomplete` (none differs, but a side never succeeded, so a
 * pair could not be compared).
 */
export type ReplayVerdict = 'running' | 'equal' | 'different' | 'incomplete';

/** A replay's pairs counted: how many were replayed, equal, different and not (yet) comparable. */
export interface ReplaySummary {
  verdict: ReplayVerdict;
  replayed: number;
  equal: number;
  different: number;
  /** Pairs with `equal: null`: a side has not succeeded (yet). */
  notCompared: number;
  /** The replayed task ids of the pairs whose outputs differ, in the replay's order. */
  differing: string[];
}

export function summariseReplay(replay: ReplayStatus): ReplaySummary {
  const differing = replay.pairs.filter((p) => p.equal === false).map((p) => p.replay.task_id);
  const equal = replay.pairs.filter((p) => p.equal === true).length;
  const notCompared = replay.pairs.length - equal - differing.length;
  const verdict: ReplayVerdict = !replay.done
    ? 'running'
    : differing.length > 0
      ? 'different'
      : notCompared > 0
        ? 'incomplete'
        : 'equal';
  return {
    verdict,
    replayed: replay.pairs.length,
    equal,
    different: differing.length,
    notCompared,
    differing,
  };
}

/** Pairs the panel's table lists; the rest are counted under it (a campaign replays up to 10,000). */
export const PAIRS_SHOWN = 100;
/** The poll's delay for a replay of few pairs, and at most (a large one is re-read less often). */
const POLL_MS = 500;
const POLL_MAX_MS = 5000;

/** How long the panel waits before it reads a replay of `pairs` pairs again: 0.5 s a 200 pairs, up to 5 s. */
export function pollDelayMs(pairs: number): number {
  return Math.min(POLL_MAX_MS, POLL_MS * Math.max(1, Math.ceil(pairs / 200)));
}

/** What the source is, for labels: `task`, `campaign` or `workflow`. */
export function sourceKind(source: ReplaySource): 'task' | 'campaign' | 'workflow' {
  if ('task_id' in source) return 'task';
  if ('campaign_id' in source) return 'campaign';
  return 'workflow';
}
