import type { AuditEntry, FlockClient, WebhookDelivery, WorkerFingerprint } from '@flock/client';
import { shortHash } from './copy-button.ts';
import { formatTime, h, replace } from './dom.ts';
import { describeError } from './error-text.ts';

/** A task page's audit trail and webhook deliveries, re-read when the task changes. */
export interface TaskAuditPanel {
  element: HTMLElement;
  /** Re-reads the trail (and, once the task ended, its webhook deliveries). */
  refresh(terminal: boolean): void;
  stop(): void;
}

/** How often pending webhook deliveries are re-read (their next attempt changes no task state). */
const DELIVERY_POLL_MS = 2000;

/**
 * The audit trail of one task (`GET /v1/audit?task_id=`): each transition with its time, from → to,
 * code, attempt, worker and the worker's environment, input and output hashes; and, for a task
 * whose `return_channel` is a URL, its webhook deliveries (`GET /v1/webhooks/deliveries`).
 */
export function taskAuditPanel(client: FlockClient, taskId: string): TaskAuditPanel {
  const rows = h('tbody', { id: 'audit-rows' });
  const error = h('p', { class: 'error', role: 'alert', id: 'audit-error', hidden: true });
  const deliveries = h('section', { id: 'webhook-deliveries', hidden: true });
  let reading = false;
  let again = false;
  let pollTimer: ReturnType<typeof setInterval> | undefined;
  let stopped = false;
  let latestTerminal = false;

  const readAudit = async (terminal: boolean): Promise<void> => {
    const page = await client.audit({ task_id: taskId, limit: 1000 });
    if (stopped) return;
    replace(rows, ...page.entries.map(auditRow));
    if (page.entries.length === 0) replace(rows, h('tr', {}, h('td', { colspan: 8 }, 'No audit rows yet.')));
    if (!terminal) return;
    const list = await client.webhookDeliveries(taskId);
    if (stopped) return;
    showDeliveries(deliveries, list);
    const pending = list.some((d) => d.state === 'pending');
    if (pending && pollTimer === undefined) {
      pollTimer = setInterval(() => refresh(true), DELIVERY_POLL_MS);
    } else if (!pending && pollTimer !== undefined) {
      clearInterval(pollTimer);
      pollTimer = undefined;
    }
  };

  // One read at a time; a change while reading asks for one more read after it.
  const refresh = (terminal: boolean): void => {
    latestTerminal = terminal;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    readAudit(terminal)
      .then(() => {
        error.hidden = true;
      })
      .catch((caught: unknown) => {
        error.textContent = `Audit trail: ${describeError(caught)}`;
        error.hidden = false;
      })
      .finally(() => {
        reading = false;
        if (again && !stopped) {
          again = false;
          refresh(latestTerminal);
        }
      });
  };

  const element = h(
    'div',
    { id: 'task-audit' },
    h('h2', {}, 'Audit trail'),
    error,
    h(
      'table',
      { class: 'audit' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Time', 'Transition', 'Code', '#', 'Worker', 'Environment', 'Input', 'Output'].map((c) =>
            h('th', {}, c),
          ),
        ),
      ),
      rows,
    ),
    deliveries,
  );
  return {
    element,
    refresh,
    stop: () => {
      stopped = true;
      if (pollTimer !== undefined) clearInterval(pollTimer);
    },
  };
}

function auditRow(entry: AuditEntry): HTMLElement {
  return h(
    'tr',
    { 'data-to': entry.to },
    h('td', { title: entry.ts }, formatTime(Date.parse(entry.ts))),
    h('td', { 'data-audit': 'transition' }, `${entry.from ?? '∅'} → ${entry.to}`),
    h('td', { class: 'mono', 'data-audit': 'code' }, entry.code ?? '–'),
    h('td', { 'data-audit': 'attempt' }, entry.attempt ?? '–'),
    h('td', { class: 'mono', 'data-audit': 'worker' }, entry.worker?.id ?? '–'),
    h('td', { 'data-audit': 'environment' }, environmentText(entry.worker)),
    h('td', { 'data-audit': 'input' }, shortHash(entry.input_hash)),
    h('td', { 'data-audit': 'output' }, shortHash(entry.output_hash)),
  );
}

/** `Chrome 131.0.0.0 · Linux · google swiftshader`, or `–` for a row without a worker. */
export function environmentText(worker: WorkerFingerprint | null): string {
  if (worker === null) return '–';
  const adapter =
    worker.adapter === null
      ? 'no WebGPU'
      : [worker.adapter.vendor, worker.adapter.architecture].filter((s) => s !== '').join(' ') || 'WebGPU';
  return [worker.browser ?? 'unknown browser', worker.os ?? 'unknown OS', adapter].join(' · ');
}

function showDeliveries(section: HTMLElement, list: WebhookDelivery[]): void {
  if (list.length === 0) {
    section.hidden = true;
    return;
  }
  replace(
    section,
    h('h2', {}, 'Webhook deliveries'),
    h(
      'table',
      { class: 'deliveries' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Event', 'URL', 'Status', 'Attempts', 'Last answer', 'Next attempt'].map((c) => h('th', {}, c)),
        ),
      ),
      h(
        'tbody',
        { id: 'delivery-rows' },
        ...list.map((d) => {
          const last = d.attempts.at(-1);
          return h(
            'tr',
            { 'data-delivery': d.id },
            h('td', { class: 'mono' }, d.event),
            h('td', { class: 'mono' }, d.url),
            h('td', { 'data-delivery-field': 'state' }, d.state),
            h('td', { 'data-delivery-field': 'attempts' }, d.attempts.length),
            h(
              'td',
              { 'data-delivery-field': 'last' },
              last === undefined
                ? '–'
                : (last.error ?? (last.status === undefined ? '–' : `HTTP ${last.status}`)),
            ),
            h('td', { 'data-delivery-field': 'next' }, formatTime(d.next_attempt_at_ms)),
          );
        }),
      ),
    ),
  );
  section.hidden = false;
}
