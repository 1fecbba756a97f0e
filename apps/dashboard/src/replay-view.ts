import type { FlockClient, ReplaySource, ReplayStatus } from '@flock/client';
import { shortHash } from './copy-button.ts';
import { h, replace } from './dom.ts';
import { describeError } from './error-text.ts';
import {
  PAIRS_SHOWN,
  pollDelayMs,
  type ReplaySummary,
  sourceKind,
  summariseReplay,
} from './replay-summary.ts';

/** A Replay button (a task's, a campaign's or a workflow's page) and what came of the replay. */
export interface ReplayPanel {
  element: HTMLElement;
  /** The button shows once the source has ended (a replay compares against recorded outputs). */
  setTerminal(terminal: boolean): void;
  stop(): void;
}

const LABEL = { task: 'Replay', campaign: 'Replay campaign', workflow: 'Replay workflow' } as const;

/**
 * Replays the source (`POST /v1/replay` with `{ task_id }`, `{ campaign_id }` or `{ workflow_id }`;
 * scopes submit and read) and shows the replay's status, re-read (every 0.5 s, less often for many
 * pairs: `pollDelayMs`)
 * (`GET /v1/replay/:id`) until it is done: how many tasks were replayed, equal, different and not
 * compared, the replayed tasks whose outputs differ, and the first PAIRS_SHOWN pairs' states and
 * output hashes (the rest counted).
 * Ids name the kind: the button `replay-<kind>`, the panel `<kind>-replay`, the error and status
 * `replay-<kind>-error` / `replay-<kind>-status` (a task's: `replay-error` / `replay-status`).
 */
export function replayPanel(client: FlockClient, source: ReplaySource): ReplayPanel {
  const kind = sourceKind(source);
  const prefix = kind === 'task' ? 'replay' : `replay-${kind}`;
  const button = h('button', { type: 'button', id: `replay-${kind}`, hidden: true }, LABEL[kind]);
  const error = h('p', { class: 'error', role: 'alert', id: `${prefix}-error`, hidden: true });
  const status = h('div', { id: `${prefix}-status`, hidden: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const poll = async (replayId: string): Promise<void> => {
    let pairs = 0;
    try {
      const replay = await client.replayStatus(replayId);
      if (stopped) return;
      pairs = replay.pairs.length;
      showStatus(status, replay, kind !== 'task');
      error.hidden = true;
      if (replay.done) {
        button.disabled = false;
        return;
      }
    } catch (caught) {
      if (stopped) return;
      error.textContent = describeError(caught);
      error.hidden = false;
    }
    timer = setTimeout(() => void poll(replayId), pollDelayMs(pairs));
  };

  button.addEventListener('click', async () => {
    button.disabled = true;
    error.hidden = true;
    try {
      const made = await client.replay(source);
      if (stopped) return;
      replace(status, h('p', {}, 'Replay ', h('b', { class: 'mono' }, made.replay_id), ' submitted…'));
      status.hidden = false;
      void poll(made.replay_id);
    } catch (caught) {
      error.textContent = `${LABEL[kind]}: ${describeError(caught)}`;
      error.hidden = false;
      button.disabled = false;
    }
  });

  return {
    element: h('div', { id: `${kind}-replay`, class: 'replay-panel' }, button, error, status),
    setTerminal: (terminal) => {
      button.hidden = !terminal;
    },
    stop: () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

/** A campaign's or workflow's replay runs as the campaign named by its replay id: link its page. */
function showStatus(status: HTMLElement, replay: ReplayStatus, asCampaign: boolean): void {
  const summary = summariseReplay(replay);
  const id = h('b', { class: 'mono', 'data-replay': 'id' }, replay.replay_id);
  replace(
    status,
    h(
      'p',
      {},
      'Replay ',
      asCampaign ? h('a', { href: `#/campaign/${encodeURIComponent(replay.replay_id)}` }, id) : id,
      ': ',
      h('span', { class: `chip replay-${summary.verdict}`, 'data-replay': 'verdict' }, summary.verdict),
    ),
    summaryLine(summary),
    summary.differing.length === 0
      ? null
      : h(
          'p',
          { 'data-replay': 'differing' },
          'Outputs differ: ',
          ...summary.differing.flatMap((taskId, i) => [
            i === 0 ? '' : ', ',
            h('a', { href: `#/task/${encodeURIComponent(taskId)}`, class: 'mono' }, taskId),
          ]),
        ),
    pairsTable(replay),
  );
  status.hidden = false;
}

/** `3 tasks replayed · 2 equal · 1 different · 0 not compared`, each count in its own element. */
function summaryLine(summary: ReplaySummary): HTMLElement {
  const count = (name: string, n: number, text: string) => [
    h('b', { 'data-replay-count': name }, n),
    ` ${text}`,
  ];
  return h(
    'p',
    { class: 'muted', 'data-replay': 'summary' },
    ...count('replayed', summary.replayed, summary.replayed === 1 ? 'task replayed · ' : 'tasks replayed · '),
    ...count('equal', summary.equal, 'equal · '),
    ...count('different', summary.different, 'different · '),
    ...count('not-compared', summary.notCompared, 'not compared'),
  );
}

function pairsTable(replay: ReplayStatus): HTMLElement {
  const more = replay.pairs.length - PAIRS_SHOWN;
  const table = h(
    'table',
    { class: 'replay-pairs' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['Replayed task', 'State', 'Original output', 'Replay output', 'Outputs'].map((c) =>
          h('th', {}, c),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      ...replay.pairs
        .slice(0, PAIRS_SHOWN)
        .map((pair) =>
          h(
            'tr',
            { 'data-replay-pair': pair.replay.task_id },
            h(
              'td',
              { class: 'mono' },
              h('a', { href: `#/task/${encodeURIComponent(pair.replay.task_id)}` }, pair.replay.task_id),
            ),
            h('td', { 'data-replay': 'state' }, pair.replay.state),
            h('td', {}, shortHash(pair.original.output_hash)),
            h('td', {}, shortHash(pair.replay.output_hash)),
            h(
              'td',
              { 'data-replay': 'equal' },
              pair.equal === null ? '–' : pair.equal ? 'equal' : 'different',
            ),
          ),
        ),
    ),
  );
  if (more <= 0) return table;
  return h(
    'div',
    {},
    table,
    h(
      'p',
      { class: 'muted', 'data-replay': 'more' },
      `… and ${more.toLocaleString('en')} more pairs (all of them: GET /v1/replay/${replay.replay_id})`,
    ),
  );
}
