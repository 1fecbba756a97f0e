import { type FlockClient, isTerminal, type TaskView } from '@flock/client';
import type { ComputeResult, DataRef } from '@flock/protocol';
import { copyButton } from './copy-button.ts';
import { formatBytes, formatDuration, formatTime, h, replace } from './dom.ts';
import { describeError } from './error-text.ts';
import type { LiveTasks } from './live-tasks.ts';
import { outputTensor } from './output-tensor.ts';
import { replayPanel } from './replay-view.ts';
import { previewOutput } from './result-preview.ts';
import { taskAuditPanel } from './task-audit-view.ts';
import { progressBar, stateBadge } from './task-list-view.ts';
import { verificationFact } from './verification-view.ts';

/**
 * One task: state, progress, attempts, timings, verification (tasks with a policy), failure,
 * cancel, result download and preview; its trace id, audit trail, webhook deliveries and Replay.
 */
export function renderTaskDetail(
  app: HTMLElement,
  live: LiveTasks,
  client: FlockClient,
  taskId: string,
): () => void {
  const head = h('div', { class: 'section-head' });
  const facts = h('dl', { class: 'facts', id: 'task-facts' });
  const failure = h('div', { id: 'task-failure', class: 'failure', hidden: true });
  const attempts = h('tbody', { id: 'attempt-rows' });
  const results = h('section', { class: 'card', id: 'task-result', hidden: true });
  const error = h('p', { class: 'error', role: 'alert', id: 'task-error', hidden: true });
  const cancel = h('button', { type: 'button', id: 'cancel-task', class: 'danger' }, 'Cancel task');
  let shownResultFor: string | undefined;
  let urls: string[] = [];
  const audit = taskAuditPanel(client, taskId);
  const replay = replayPanel(client, { task_id: taskId });
  /** The state and attempt count the audit trail was last read for. */
  let auditedAt = '';
  /** The first read failed (coordinator away): its error goes once a view arrives. */
  let loadFailed = false;

  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    error.hidden = true;
    try {
      live.upsert(await client.cancelTask(taskId));
    } catch (caught) {
      error.textContent = describeError(caught);
      error.hidden = false;
      cancel.disabled = false;
    }
  });

  const render = (view: TaskView): void => {
    if (loadFailed) {
      loadFailed = false;
      error.hidden = true;
    }
    replace(
      head,
      h('h1', { class: 'mono' }, view.task_id),
      stateBadge(view.state),
      isTerminal(view.state) ? null : cancel,
    );
    const last = view.attempts.at(-1);
    const items: Array<[string, Node | string]> = [
      ['Op', `${view.op} (${view.module_kind})`],
      ['State', view.state],
      ['Progress', progressBar(view)],
      [
        'Campaign',
        view.campaign_id === undefined
          ? '–'
          : h('a', { href: `#/campaign/${encodeURIComponent(view.campaign_id)}` }, view.campaign_id),
      ],
      ['Created', formatTime(view.created_at_ms)],
      ['Updated', formatTime(view.updated_at_ms)],
      ['Worker', last?.worker_id ?? '–'],
      ['Executor', view.executor ?? '–'],
      ['Run time', formatDuration(view.duration_ms ?? attemptMs(last))],
      ['Attempts', String(view.attempts.length)],
    ];
    if (view.verification !== undefined) items.push(['Verification', verificationFact(view.verification)]);
    if (view.waiting_reason !== undefined) items.push(['Waiting because', view.waiting_reason]);
    if (view.correlation_id !== undefined) {
      items.push([
        'Trace id',
        h(
          'span',
          {},
          h('code', { id: 'trace-id' }, view.correlation_id),
          ' ',
          copyButton(view.correlation_id),
        ),
      ]);
    }
    replace(facts, ...items.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-fact': k }, v)]));
    if (view.failure === undefined) {
      failure.hidden = true;
    } else {
      replace(failure, h('b', { class: 'mono' }, view.failure.code), ` ${view.failure.message}`);
      failure.hidden = false;
    }
    replace(
      attempts,
      ...view.attempts.map((a) =>
        h(
          'tr',
          {},
          h('td', {}, a.attempt),
          h('td', { class: 'mono' }, a.worker_id),
          h('td', { class: 'mono' }, a.lease_id),
          h('td', {}, formatTime(a.started_at_ms)),
          h('td', {}, formatTime(a.ended_at_ms)),
          h(
            'td',
            {},
            a.ended_at_ms === undefined ? 'running' : formatDuration(a.ended_at_ms - a.started_at_ms),
          ),
          h(
            'td',
            {},
            a.outcome ?? '–',
            a.code === undefined ? null : h('span', { class: 'mono' }, ` ${a.code}`),
          ),
        ),
      ),
    );
    const terminal = isTerminal(view.state);
    replay.setTerminal(terminal);
    const at = `${view.state}/${view.attempts.length}`;
    if (at !== auditedAt) {
      auditedAt = at;
      audit.refresh(terminal);
    }
    if (view.state === 'succeeded' && shownResultFor !== view.task_id) {
      shownResultFor = view.task_id;
      void showResult();
    }
  };

  const showResult = async (): Promise<void> => {
    try {
      const result = await client.fetchResult(taskId);
      const outputs = await Promise.all(
        (result.outputs ?? []).map(async (ref) => ({ ref, bytes: await client.outputBytes(ref) })),
      );
      replace(
        results,
        h('h2', {}, 'Result'),
        resultSummary(result),
        ...outputs.map(({ ref, bytes }) => outputCard(ref, bytes)),
      );
      results.hidden = false;
    } catch (caught) {
      shownResultFor = undefined;
      error.textContent = describeError(caught);
      error.hidden = false;
    }
  };

  const outputCard = (bare: DataRef, bytes: Uint8Array): HTMLElement => {
    const tensor = outputTensor(live.get(taskId)?.op ?? '', taskId, bare);
    const ref: DataRef = tensor === undefined ? bare : { ...bare, tensor };
    const name = ref.name ?? 'output';
    const type = ref.content_type ?? 'application/octet-stream';
    const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
    urls.push(url);
    return h(
      'div',
      { class: 'output', 'data-output': name },
      h(
        'div',
        { class: 'output-head' },
        h('b', {}, name),
        h('span', { class: 'muted' }, ` ${type} · ${formatBytes(bytes.length)}`),
        ref.tensor?.shape === undefined
          ? null
          : h('span', { class: 'muted' }, ` · ${ref.tensor.dtype ?? ''}[${ref.tensor.shape.join('×')}]`),
        h(
          'a',
          { class: 'button', href: url, download: `${taskId}-${name}`, 'data-download': name },
          'Download',
        ),
      ),
      previewOutput(ref, bytes),
    );
  };

  replace(
    app,
    h(
      'section',
      { class: 'card' },
      head,
      error,
      facts,
      failure,
      h('h2', {}, 'Attempts'),
      h(
        'table',
        { class: 'attempts' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['#', 'Worker', 'Lease', 'Started', 'Ended', 'Took', 'Outcome'].map((c) => h('th', {}, c)),
          ),
        ),
        attempts,
      ),
      replay.element,
      audit.element,
    ),
    results,
  );

  const known = live.get(taskId);
  if (known !== undefined) render(known);
  client
    .getTask(taskId)
    .then((view) => live.upsert(view))
    .catch((caught: unknown) => {
      loadFailed = true;
      error.textContent = describeError(caught);
      error.hidden = false;
    });
  const unsubscribe = live.subscribe((changed) => {
    const view = changed === undefined ? live.get(taskId) : changed.task_id === taskId ? changed : undefined;
    if (view !== undefined) render(view);
  });
  // The waiting reason (a volunteer came or left, all busy, paused) and verification (a copy
  // returns while the task waits or runs) move on without a state change: no event says so, so a
  // queued task, or one still being verified, is re-read every POLL_MS.
  const pollTimer = setInterval(() => {
    const view = live.get(taskId);
    if (view === undefined || isTerminal(view.state)) return;
    if (view.state === 'queued' || view.verification?.state === 'pending') live.refresh(taskId);
  }, POLL_MS);
  return () => {
    clearInterval(pollTimer);
    unsubscribe();
    audit.stop();
    replay.stop();
    for (const url of urls) URL.revokeObjectURL(url);
    urls = [];
  };
}

/** How often the page re-reads a queued task, or one whose verification is pending. */
const POLL_MS = 2000;

/** How long an ended attempt took, when the worker reported no duration of its own. */
function attemptMs(attempt: TaskView['attempts'][number] | undefined): number | undefined {
  return attempt?.ended_at_ms === undefined ? undefined : attempt.ended_at_ms - attempt.started_at_ms;
}

function resultSummary(result: ComputeResult): HTMLElement {
  const parts = [
    ...Object.entries(result.summary ?? {}).map(([k, v]) => `${k}=${v}`),
    ...Object.entries(result.metrics ?? {}).map(([k, v]) => `${k}=${v}`),
  ];
  return h(
    'p',
    { class: 'muted' },
    `executor ${result.executor ?? '?'}${result.duration_ms === undefined ? '' : ` · ${formatDuration(result.duration_ms)}`} on ${result.worker_id ?? '?'}`,
    parts.length === 0 ? null : ` · ${parts.join(' ')}`,
  );
}
