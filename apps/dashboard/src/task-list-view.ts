import {
  type CampaignView,
  type FlockClient,
  isTerminal,
  type TaskState,
  type TaskView,
} from '@flock/client';
import { formatDuration, formatTime, h, replace } from './dom.ts';
import { describeError } from './error-text.ts';
import type { LiveTasks } from './live-tasks.ts';
import { replayPanel } from './replay-view.ts';
import { verificationChip } from './verification-view.ts';

const STATES: readonly TaskState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

export function stateBadge(state: TaskState): HTMLElement {
  return h('span', { class: `badge state-${state}`, 'data-state': state }, state);
}

export function progressBar(view: TaskView): HTMLElement {
  const pct = view.state === 'succeeded' ? 100 : (view.progress?.pct ?? 0);
  return h(
    'div',
    { class: 'progress-cell' },
    h(
      'div',
      { class: 'progress', title: `${pct.toFixed(0)}%` },
      h('div', {
        class: `progress-fill state-${view.state}`,
        style: `width: ${Math.max(0, Math.min(100, pct))}%`,
      }),
    ),
    h('span', { class: 'muted pct' }, view.state === 'running' ? `${pct.toFixed(0)}%` : ''),
  );
}

/**
 * The live task list; `campaignId` narrows it to one campaign and shows its counts and, once
 * every task of it has ended, a Replay campaign button.
 */
export function renderTaskList(
  app: HTMLElement,
  live: LiveTasks,
  client: FlockClient,
  campaignId: string | undefined,
): () => void {
  const filter = h(
    'select',
    { id: 'state-filter', 'aria-label': 'Filter by state' },
    h('option', { value: '' }, 'all states'),
    ...STATES.map((s) => h('option', { value: s }, s)),
  );
  const counts = h('div', { class: 'counts', id: 'task-counts' });
  const body = h('tbody', { id: 'task-rows' });
  const campaignInfo = h('p', { class: 'muted', id: 'campaign-info' });
  const replay = campaignId === undefined ? undefined : replayPanel(client, { campaign_id: campaignId });
  const render = (): void => {
    const wanted = filter.value;
    const all = live.list().filter((t) => campaignId === undefined || t.campaign_id === campaignId);
    const tally = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<TaskState, number>;
    for (const t of all) tally[t.state] += 1;
    replay?.setTerminal(all.length > 0 && all.every((t) => isTerminal(t.state)));
    replace(
      counts,
      ...STATES.map((s) =>
        h('span', { class: `count state-${s}`, 'data-count': s }, `${s} `, h('b', {}, tally[s])),
      ),
    );
    const rows = all.filter((t) => wanted === '' || t.state === wanted).map(taskRow);
    replace(
      body,
      ...(rows.length > 0
        ? rows
        : [
            h(
              'tr',
              {},
              h('td', { colspan: 7, class: 'empty' }, 'No tasks yet. Submit one from the Submit tab.'),
            ),
          ]),
    );
  };
  filter.addEventListener('change', render);
  replace(
    app,
    h(
      'section',
      { class: 'card' },
      h(
        'div',
        { class: 'section-head' },
        h('h1', {}, campaignId === undefined ? 'Tasks' : `Campaign ${campaignId}`),
        filter,
      ),
      campaignId === undefined ? null : campaignInfo,
      counts,
      replay?.element,
      h(
        'table',
        { class: 'tasks' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Task', 'Op', 'State', 'Progress', 'Created', 'Took', 'Worker'].map((c) => h('th', {}, c)),
          ),
        ),
        body,
      ),
    ),
  );
  render();
  const unsubscribe = live.subscribe(render);
  // A queued task's waiting reason (its row's tooltip) changes with no event: re-read while any
  // waits. A campaign's page re-reads its every task already (below).
  const waitingTimer = setInterval(() => {
    if (campaignId === undefined && live.list().some((t) => t.state === 'queued')) void live.refreshQueued();
  }, WAITING_POLL_MS);
  let timer: ReturnType<typeof setInterval> | undefined;
  if (campaignId !== undefined) {
    const refreshCampaign = (): void => {
      client
        .campaign(campaignId)
        .then((campaign: CampaignView) => {
          for (const view of campaign.tasks) live.upsert(view);
          campaignInfo.textContent = `${campaign.tasks.length} tasks in this campaign`;
        })
        .catch((error: unknown) => {
          campaignInfo.textContent = describeError(error);
        });
    };
    refreshCampaign();
    timer = setInterval(refreshCampaign, 5000);
  }
  return () => {
    unsubscribe();
    clearInterval(waitingTimer);
    replay?.stop();
    if (timer !== undefined) clearInterval(timer);
  };
}

/** How often the list re-reads its queued tasks' waiting reasons (as the task page does). */
const WAITING_POLL_MS = 2000;

function taskRow(view: TaskView): HTMLTableRowElement {
  const last = view.attempts.at(-1);
  const took =
    view.duration_ms ?? (isTerminal(view.state) ? view.updated_at_ms - view.created_at_ms : undefined);
  const row = h(
    'tr',
    { 'data-task-id': view.task_id, class: 'clickable' },
    h('td', {}, h('a', { href: `#/task/${encodeURIComponent(view.task_id)}` }, view.task_id)),
    h('td', {}, view.op, h('span', { class: 'muted' }, ` ${view.module_kind}`)),
    h(
      'td',
      {},
      stateBadge(view.state),
      view.verification === undefined ? null : ' ',
      view.verification === undefined ? null : verificationChip(view.verification),
      view.failure === undefined
        ? null
        : h('span', { class: 'muted mono failure-code' }, ` ${view.failure.code}`),
    ),
    h('td', {}, progressBar(view)),
    h('td', {}, formatTime(view.created_at_ms)),
    h('td', {}, formatDuration(took)),
    h('td', { class: 'mono' }, last?.worker_id ?? (view.waiting_reason === undefined ? '–' : 'waiting')),
  );
  if (view.waiting_reason !== undefined) row.title = view.waiting_reason;
  row.addEventListener('click', (event) => {
    if ((event.target as HTMLElement).tagName !== 'A')
      location.hash = `#/task/${encodeURIComponent(view.task_id)}`;
  });
  return row;
}
