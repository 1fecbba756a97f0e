import {
  type BreakerView,
  type FlockClient,
  formatSuccessRate,
  formatWindow,
  type OpLevelView,
  type SloKind,
  type SloTargets,
  sloTargetsText,
  sloTargetText,
} from '@flock/client';
import type { StatsHistory } from './charts-view.ts';
import { formatTime, h, replace } from './dom.ts';
import { describeError } from './error-text.ts';
import type { LiveTasks } from './live-tasks.ts';

const OP_COLUMNS = [
  'Op',
  'Tasks',
  'Succeeded',
  'Failed',
  'Success rate',
  'Success target',
  'p50',
  'p95',
  'p95 target',
  'Misses',
];
const BREAKER_COLUMNS = ['Op', 'State', 'Failed on', 'Last code', 'Held tasks', 'Retries at', ''];

/**
 * Service levels per op (from the polled `/v1/stats`) and this tenant's open circuit breakers
 * (`/v1/breakers`, re-read every `everyMs` and at once on a breaker notice), each with a Reset
 * button. Appends its two sections to `app` (below the charts); returns the cleanup.
 */
export function renderServiceLevels(
  app: HTMLElement,
  client: FlockClient,
  history: StatsHistory,
  live: LiveTasks,
  everyMs = 2000,
): () => void {
  const targets = h('p', { class: 'muted', id: 'slo-targets' });
  const opRows = h('tbody', { id: 'op-rows' });
  const breakerSummary = h('p', { class: 'muted', id: 'breaker-summary' });
  const breakerError = h('p', { class: 'error', role: 'alert', id: 'breaker-error', hidden: true });
  const breakerRows = h('tbody', { id: 'breaker-rows' });
  app.append(
    h(
      'section',
      { class: 'card', id: 'service-levels' },
      h('h1', {}, 'Service levels per op'),
      targets,
      scrollTable('op-levels', OP_COLUMNS, opRows),
    ),
    h(
      'section',
      { class: 'card', id: 'breakers' },
      h('h1', {}, 'Circuit breakers'),
      breakerSummary,
      breakerError,
      scrollTable('breakers', BREAKER_COLUMNS, breakerRows),
    ),
  );

  const drawLevels = (): void => {
    const stats = history.latest;
    if (stats === undefined) return;
    targets.textContent = `${sloTargetsText(stats.slo)}; an op is judged from 20 finished tasks on.`;
    replace(
      opRows,
      ...(stats.ops.length > 0
        ? stats.ops.map((level) => opRow(level, stats.slo))
        : [
            emptyRow(
              OP_COLUMNS.length,
              `No finished tasks in the last ${formatWindow(stats.slo.window_ms)}.`,
            ),
          ]),
    );
  };

  let stopped = false;
  let generation = 0;
  /** What the error line shows: a failed listing clears with the next good one, a failed reset stays. */
  let errorFrom: 'list' | 'reset' | undefined;
  const refreshBreakers = (): void => {
    const mine = ++generation;
    client
      .breakers()
      .then((all) => {
        // A slower, older answer never overwrites a newer one (a reset is followed by a re-read).
        if (stopped || mine !== generation) return;
        if (errorFrom === 'list') showError(undefined, undefined);
        const open = all.filter((b) => b.state !== 'closed');
        breakerSummary.textContent =
          open.length === 0
            ? 'No open breakers: every op is dispatched.'
            : `${open.length} open: their ops' queued tasks are held until the cool-down lets one through or you reset them.`;
        replace(
          breakerRows,
          ...(open.length > 0
            ? open.map((b) => breakerRow(b, reset))
            : [emptyRow(BREAKER_COLUMNS.length, 'No open circuit breakers.')]),
        );
      })
      .catch((error: unknown) => showError(error, 'list'));
  };
  const showError = (error: unknown, from: 'list' | 'reset' | undefined): void => {
    if (stopped) return;
    errorFrom = from;
    breakerError.hidden = from === undefined;
    if (from !== undefined) breakerError.textContent = describeError(error);
  };
  const reset = (op: string, button: HTMLButtonElement): void => {
    button.disabled = true;
    showError(undefined, undefined);
    client
      .resetBreaker(op)
      .catch((error: unknown) => showError(error, 'reset'))
      .finally(refreshBreakers);
  };

  drawLevels();
  refreshBreakers();
  const levelsTimer = setInterval(drawLevels, 1000);
  const breakersTimer = setInterval(refreshBreakers, everyMs);
  const stopEvents = live.onEvent((event) => {
    if (event.topic.startsWith('flock:breaker:')) refreshBreakers();
  });
  return () => {
    stopped = true;
    clearInterval(levelsTimer);
    clearInterval(breakersTimer);
    stopEvents();
  };
}

function scrollTable(className: string, columns: string[], body: HTMLElement): HTMLElement {
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: className },
      h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', {}, c)))),
      body,
    ),
  );
}

function emptyRow(columns: number, text: string): HTMLTableRowElement {
  return h('tr', {}, h('td', { colspan: columns, class: 'empty' }, text));
}

/** One op: a missed target marks its measured cell and names it in Misses. */
function opRow(level: OpLevelView, slo: SloTargets): HTMLTableRowElement {
  const misses = (kind: SloKind): boolean => level.violations.includes(kind);
  const cell = (key: string, value: string | number, missed = false): HTMLTableCellElement =>
    h('td', { 'data-level': key, class: missed ? 'miss' : undefined }, value);
  return h(
    'tr',
    { 'data-op': level.op, class: level.violations.length > 0 ? 'violating' : undefined },
    h('td', { class: 'mono', 'data-level': 'op' }, level.op),
    cell('count', level.count),
    cell('succeeded', level.succeeded),
    cell('failed', level.failed),
    cell('success_rate', formatSuccessRate(level.success_rate), misses('success')),
    cell('success_target', sloTargetText(slo, 'success') ?? '–'),
    cell('p50', `${level.p50_ms} ms`),
    cell('p95', `${level.p95_ms} ms`, misses('p95')),
    cell('p95_target', sloTargetText(slo, 'p95') ?? '–'),
    h(
      'td',
      { 'data-level': 'violations' },
      ...(level.violations.length > 0
        ? level.violations.map((kind) => h('span', { class: 'chip miss', 'data-violation': kind }, kind))
        : ['–']),
    ),
  );
}

function breakerRow(b: BreakerView, reset: (op: string, button: HTMLButtonElement) => void): HTMLElement {
  const button = h('button', { type: 'button', class: 'danger', 'data-reset': b.op }, 'Reset');
  button.addEventListener('click', () => reset(b.op, button));
  return h(
    'tr',
    { 'data-breaker': b.op },
    h('td', { class: 'mono' }, b.op),
    h('td', { 'data-breaker-state': '' }, h('span', { class: 'chip warn' }, b.state)),
    h('td', {}, `${b.failed_workers} volunteers`),
    h('td', { class: 'mono' }, b.last_code || '–'),
    h('td', { 'data-held': '' }, b.held_tasks),
    h('td', {}, formatTime(b.retry_at_ms)),
    h('td', {}, button),
  );
}
