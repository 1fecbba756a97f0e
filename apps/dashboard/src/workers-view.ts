import { type FlockClient, formatCredit, trustStatus, type WorkerView } from '@flock/client';
import type { JsonObject, JsonValue } from '@flock/protocol';
import { formatTime, h, replace } from './dom.ts';
import { describeError } from './error-text.ts';
import { trustChip } from './verification-view.ts';

/**
 * Volunteers: GPU vendor/architecture, features, cores, slots, work done, and what verification
 * says of them (credit, validated and rejected results, trust status).
 */
export function renderWorkers(app: HTMLElement, client: FlockClient): () => void {
  const body = h('tbody', { id: 'worker-rows' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const summary = h('p', { class: 'muted', id: 'worker-summary' });
  replace(
    app,
    h(
      'section',
      { class: 'card' },
      h('h1', {}, 'Workers'),
      summary,
      error,
      h(
        'div',
        { class: 'table-scroll' },
        h(
          'table',
          { class: 'workers' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...[
                'Worker',
                'Status',
                'Trust',
                'Credit',
                'Results',
                'GPU',
                'Features',
                'CPU',
                'Memory',
                'Slots',
                'Running',
                'Done',
                'Last seen',
              ].map((c) => h('th', {}, c)),
            ),
          ),
          body,
        ),
      ),
    ),
  );
  const refresh = (): void => {
    client
      .workers()
      .then((workers) => {
        error.hidden = true;
        const connected = workers.filter((w) => w.connected).length;
        summary.textContent = `${connected} connected, ${workers.length - connected} gone`;
        replace(
          body,
          ...(workers.length > 0
            ? workers.map(workerRow)
            : [
                h(
                  'tr',
                  {},
                  h('td', { colspan: 13, class: 'empty' }, 'No volunteers yet: open the volunteer page.'),
                ),
              ]),
        );
      })
      .catch((caught: unknown) => {
        error.textContent = describeError(caught);
        error.hidden = false;
      });
  };
  refresh();
  const timer = setInterval(refresh, 3000);
  return () => clearInterval(timer);
}

function str(value: JsonValue | undefined): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

function workerRow(w: WorkerView): HTMLTableRowElement {
  const cap = w.capability;
  const gpu = (cap['gpu'] ?? {}) as JsonObject;
  const features = Array.isArray(gpu['features']) ? gpu['features'].map(str) : [];
  const labels = (cap['labels'] ?? {}) as JsonObject;
  const browser = str(labels['browser']);
  const wasm = [
    cap['wasm_simd'] === true ? 'SIMD' : '',
    cap['wasm_threads'] === true ? 'threads' : '',
  ].filter(Boolean);
  return h(
    'tr',
    { 'data-worker-id': w.worker_id },
    h('td', { class: 'mono' }, w.worker_id, browser === '' ? null : h('div', { class: 'muted' }, browser)),
    h(
      'td',
      {},
      h('span', { class: `dot ${w.connected ? 'on' : 'off'}` }),
      w.connected ? (cap['paused'] === true ? 'paused' : 'connected') : 'gone',
    ),
    h('td', {}, trustChip(trustStatus(w))),
    h(
      'td',
      {
        class: 'nowrap',
        'data-credit': w.credit,
        title: 'device-weighted compute seconds of validated results',
      },
      formatCredit(w.credit),
      w.pending_credit > 0
        ? h(
            'div',
            { class: 'muted', 'data-pending-credit': w.pending_credit },
            `+${formatCredit(w.pending_credit)} pending`,
          )
        : null,
    ),
    h(
      'td',
      {
        class: 'nowrap',
        title: 'results that agreed with a quorum or a known answer, and those that did not',
      },
      h('span', { 'data-validated': '' }, w.valid_results),
      ' validated',
      h('div', { class: 'muted' }, h('span', { 'data-rejected': '' }, w.invalid_results), ' rejected'),
    ),
    h(
      'td',
      { 'data-gpu': '' },
      ...(cap['webgpu'] === true
        ? [
            h('b', {}, `${str(gpu['vendor']) || '?'} / ${str(gpu['architecture']) || '?'}`),
            gpu['is_fallback_adapter'] === true ? h('span', { class: 'chip warn' }, 'fallback') : null,
            h('div', { class: 'muted' }, str(gpu['description']) || str(gpu['device'])),
          ]
        : ['no WebGPU']),
    ),
    h(
      'td',
      { class: 'features' },
      ...features.slice(0, 6).map((f) => h('span', { class: 'chip' }, f)),
      features.length > 6
        ? h('span', { class: 'chip', title: features.slice(6).join(', ') }, `+${features.length - 6}`)
        : null,
    ),
    h(
      'td',
      {},
      `${str(cap['cpu_cores']) || '?'} cores`,
      h('div', { class: 'muted' }, wasm.length > 0 ? `WASM ${wasm.join(' + ')}` : 'WASM'),
    ),
    h('td', {}, cap['memory_mb'] ? `${Math.round(Number(cap['memory_mb']) / 1024)} GiB` : '?'),
    h('td', {}, `${str(cap['cpu_slots']) || 0} cpu · ${str(cap['gpu_slots']) || 0} gpu`),
    h('td', {}, w.running),
    h(
      'td',
      {},
      `${w.tasks_succeeded} ok`,
      w.tasks_failed > 0 ? h('div', { class: 'muted' }, `${w.tasks_failed} failed`) : null,
    ),
    h('td', {}, formatTime(w.last_seen_ms)),
  );
}
