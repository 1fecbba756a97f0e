// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// Workflows: a definition (JSON) run from the dashboard, the tenant's workflows, and one
// workflow's DAG drawn layer by layer with each step's state, live (polled while it runs).
import type { FlockClient, WorkflowStepView, WorkflowView } from '@flock/client';
import type { JsonObject } from '@flock/protocol';
import { formatTime, h, replace } from './dom.ts';
import { describeError } from './error-text.ts';
import { field } from './form-parts.ts';
import { replayPanel } from './replay-view.ts';
import { dagLayers } from './workflow-dag.ts';

const EXAMPLE = JSON.stringify(
  {
    steps: [
      {
        id: 'first',
        op: 'reduce_sum',
        module: { kind: 'builtin' },
        requirements: { min: { wasm: true } },
        inputs: [{ name: 'x', content_type: 'application/octet-stream', inline_bytes: 'AACAPwAAAEAAAEBA' }],
      },
      {
        id: 'second',
        op: 'reduce_sum',
        module: { kind: 'builtin' },
        requirements: { min: { wasm: true } },
        inputs: [{ name: 'x', uri: '${steps.first.outputs.sum}' }],
      },
    ],
  },
  null,
  2,
);

/** The run form and the list of this tenant's workflows (re-read every `everyMs`). */
export function renderWorkflows(app: HTMLElement, client: FlockClient, everyMs = 2000): () => void {
  const definition = h('textarea', { id: 'workflow-definition', rows: 14, class: 'mono' }, EXAMPLE);
  const error = h('p', { class: 'error', role: 'alert', id: 'workflow-error', hidden: true });
  const rows = h('tbody', { id: 'workflow-rows' });
  const run = async (event: Event): Promise<void> => {
    event.preventDefault();
    error.hidden = true;
    try {
      const wf = await client.workflow(parseDefinition(definition.value));
      location.hash = `#/workflow/${encodeURIComponent(wf.id)}`;
    } catch (e) {
      error.textContent = describeError(e, 'workflow');
      error.hidden = false;
    }
  };
  replace(
    app,
    h(
      'section',
      { class: 'card' },
      h('h1', {}, 'Run a workflow'),
      h(
        'form',
        { id: 'workflow-form', onsubmit: (e: Event) => void run(e) },
        field(
          'Workflow definition (JSON)',
          definition,
          'steps, depends_on, ${steps.<id>.outputs.<name>}, when, for_each, on_error',
        ),
        error,
        h('button', { type: 'submit', class: 'primary', id: 'run-workflow' }, 'Run workflow'),
      ),
    ),
    h(
      'section',
      { class: 'card' },
      h('h1', {}, 'Workflows'),
      h(
        'table',
        {},
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}, 'Workflow'),
            h('th', {}, 'State'),
            h('th', {}, 'Created'),
            h('th', {}, 'Code'),
          ),
        ),
        rows,
      ),
    ),
  );
  const draw = async (): Promise<void> => {
    try {
      const page = await client.listWorkflows({ limit: 1000 });
      replace(
        rows,
        ...page.workflows.map((w) =>
          h(
            'tr',
            {},
            h('td', {}, h('a', { href: `#/workflow/${encodeURIComponent(w.workflow_id)}` }, w.workflow_id)),
            h('td', {}, badge(w.state)),
            h('td', {}, formatTime(w.created_at_ms)),
            h('td', { class: 'mono' }, w.code ?? ''),
          ),
        ),
      );
      if (page.workflows.length === 0) replace(rows, listNote('No workflows yet: run one above.'));
    } catch (e) {
      // Shown until the next round (every `everyMs`) reads the list again.
      replace(rows, listNote(describeError(e), 'error'));
    }
  };
  void draw();
  const timer = setInterval(() => void draw(), everyMs);
  return () => clearInterval(timer);
}

/**
 * One workflow: its state and its DAG, each step a box with its state, polled until it ends; then
 * a Replay workflow button (its step tasks re-run and compared).
 */
export function renderWorkflowDetail(
  app: HTMLElement,
  client: FlockClient,
  id: string,
  everyMs = 500,
): () => void {
  const state = h('span', { id: 'workflow-state' });
  const detail = h('p', { class: 'muted', id: 'workflow-detail' });
  const dag = h('div', { class: 'dag', id: 'workflow-dag' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const cancel = h('button', { type: 'button', id: 'cancel-workflow', hidden: true }, 'Cancel workflow');
  const replay = replayPanel(client, { workflow_id: id });
  replace(
    app,
    h(
      'section',
      { class: 'card' },
      h('h1', {}, 'Workflow ', h('span', { class: 'mono' }, id), ' ', state),
      detail,
      error,
      cancel,
      dag,
      replay.element,
    ),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const draw = (view: WorkflowView): void => {
    replace(state, badge(view.state));
    detail.textContent =
      view.code === undefined
        ? `created ${formatTime(view.created_at_ms)}`
        : `${view.code}: ${view.message ?? ''}`;
    cancel.hidden = view.state !== 'running';
    replay.setTerminal(view.state !== 'running');
    const steps = new Map((view.steps ?? []).map((s) => [s.id, s]));
    replace(
      dag,
      ...dagLayers(view.steps ?? []).map((layer) =>
        h('div', { class: 'dag-layer' }, ...layer.map((sid) => stepBox(steps.get(sid)!))),
      ),
    );
  };
  const poll = async (): Promise<void> => {
    try {
      const view = await client.getWorkflow(id);
      error.hidden = true;
      draw(view);
      if (view.state !== 'running') return;
    } catch (e) {
      error.textContent = describeError(e);
      error.hidden = false;
    }
    if (!stopped) timer = setTimeout(() => void poll(), everyMs);
  };
  cancel.addEventListener('click', () => {
    void client.cancelWorkflow(id).then(
      () => poll(),
      (e: unknown) => {
        error.textContent = describeError(e);
        error.hidden = false;
      },
    );
  });
  void poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    replay.stop();
  };
}

function stepBox(step: WorkflowStepView): HTMLElement {
  const tasks =
    step.branches === undefined
      ? `${step.task_ids.length} task${step.task_ids.length === 1 ? '' : 's'}`
      : `${step.branches} branches`;
  return h(
    'div',
    { class: 'dag-node', 'data-step': step.id, 'data-state': step.state },
    h('strong', { class: 'mono' }, step.id),
    ' ',
    badge(step.state),
    h('small', {}, step.depends_on.length > 0 ? `after ${step.depends_on.join(', ')} · ${tasks}` : tasks),
    step.code === undefined ? null : h('small', { class: 'mono' }, step.code),
  );
}

/** A state badge; workflow and step states beyond a task's (waiting, skipped) use the nearest colour. */
function badge(state: string): HTMLElement {
  const colour = state === 'waiting' ? 'queued' : state === 'skipped' ? 'cancelled' : state;
  return h('span', { class: `badge state-${colour}`, 'data-state': state }, state);
}

/** The list's one row when it has no workflows to show, or could not be read. */
function listNote(text: string, className = 'empty'): HTMLTableRowElement {
  return h('tr', {}, h('td', { colspan: 4, class: className, id: 'workflow-list-note' }, text));
}

/** The definition typed into the run form: a JSON object, or an error saying what is wrong. */
function parseDefinition(text: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (caught) {
    throw new Error(`Not JSON: ${(caught as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Error('A workflow definition is a JSON object: { "steps": [ … ] }');
  return value as JsonObject;
}
