import type { FlockClient, ReplayStatus } from '@flock/client';
import { shortHash } from './copy-button.ts';
import { h, replace } from './dom.ts';
import { describeError } from './error-text.ts';

/** How often a replay is re-read while its tasks run. */
const REPLAY_POLL_MS = 500;

/** A task page's Replay button and what came of the replay. */
export interface ReplayPanel {
  element: HTMLElement;
  /** The button shows once the task has ended (a replay re-submits a recorded task). */
  setTerminal(terminal: boolean): void;
  stop(): void;
}

/**
 * Replays the task (`POST /v1/replay { task_id }`, scopes submit and read) and shows the replay's
 * status, re-read every REPLAY_POLL_MS (`GET /v1/replay/:id`) until it is done: the replayed task,
 * both output hashes and whether the outputs are equal.
 */
export function replayPanel(client: FlockClient, taskId: string): ReplayPanel {
  const button = h('button', { type: 'button', id: 'replay-task', hidden: true }, 'Replay');
  const error = h('p', { class: 'error', role: 'alert', id: 'replay-error', hidden: true });
  const status = h('div', { id: 'replay-status', hidden: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const poll = async (replayId: string): Promise<void> => {
    try {
      const replay = await client.replayStatus(replayId);
      if (stopped) return;
      showStatus(status, replay);
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
    timer = setTimeout(() => void poll(replayId), REPLAY_POLL_MS);
  };

  button.addEventListener('click', async () => {
    button.disabled = true;
    error.hidden = true;
    try {
      const made = await client.replay({ task_id: taskId });
      if (stopped) return;
      replace(status, h('p', {}, 'Replay ', h('b', { class: 'mono' }, made.replay_id), ' submitted…'));
      status.hidden = false;
      void poll(made.replay_id);
    } catch (caught) {
      error.textContent = `Replay: ${describeError(caught)}`;
      error.hidden = false;
      button.disabled = false;
    }
  });

  return {
    element: h('div', { id: 'task-replay' }, button, error, status),
    setTerminal: (terminal) => {
      button.hidden = !terminal;
    },
    stop: () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

function showStatus(status: HTMLElement, replay: ReplayStatus): void {
  const verdict = !replay.done ? 'running' : replay.equal ? 'equal' : 'different';
  replace(
    status,
    h(
      'p',
      {},
      'Replay ',
      h('b', { class: 'mono', 'data-replay': 'id' }, replay.replay_id),
      ': ',
      h('span', { class: `chip replay-${verdict}`, 'data-replay': 'verdict' }, verdict),
    ),
    h(
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
        ...replay.pairs.map((pair) =>
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
    ),
  );
  status.hidden = false;
}
