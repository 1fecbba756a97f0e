import type { FlockClient, TaskView } from '@flock/client';
import {
  type ComputeEnvelope,
  type DataRef,
  type JsonObject,
  type ModuleSpec,
  toJson,
} from '@flock/protocol';
import { BUILTIN_OPS, type CatalogOp, encodeNumbers } from './builtin-catalog.ts';
import { campaignForm } from './campaign-form.ts';
import { h, replace } from './dom.ts';
import { describeError } from './error-text.ts';
import { type FormContext, field, guard, newTaskId, parseParams, qosFields } from './form-parts.ts';
import { libraryForm } from './library-form.ts';
import type { LiveTasks } from './live-tasks.ts';
import { rememberParams } from './output-tensor.ts';
import { verificationFields } from './verification-view.ts';

type Tab = 'builtin' | 'library' | 'module' | 'campaign' | 'json';

const TABS: ReadonlyArray<[Tab, string]> = [
  ['builtin', 'Built-in op'],
  ['library', 'Library op'],
  ['module', 'WASM / WGSL module'],
  ['campaign', 'Campaign'],
  ['json', 'Envelope JSON'],
];

/** The submit page: a built-in op form, a module upload form, a campaign form, raw JSON. */
export function renderSubmit(
  app: HTMLElement,
  live: LiveTasks,
  client: FlockClient,
  tab: Tab = 'builtin',
): void {
  const error = h('p', { id: 'submit-error', class: 'error', role: 'alert', hidden: true });
  const body = h('div', { class: 'tab-body' });
  const fail = (caught: unknown): void => {
    error.textContent = describeError(caught);
    error.hidden = false;
  };
  const submitted = (task: { id: string; view: TaskView | undefined }): void => {
    if (task.view !== undefined) live.upsert(task.view);
    location.hash = `#/task/${encodeURIComponent(task.id)}`;
  };
  const context: FormContext = { client, live, fail, submitted, clearError: () => (error.hidden = true) };
  const tabs = h(
    'div',
    { class: 'tabs', role: 'tablist' },
    ...TABS.map(([id, label]) =>
      h(
        'button',
        {
          type: 'button',
          role: 'tab',
          'data-tab': id,
          'aria-selected': String(id === tab),
          onclick: () => renderSubmit(app, live, client, id),
        },
        label,
      ),
    ),
  );
  replace(app, h('section', { class: 'card' }, h('h1', {}, 'Submit work'), tabs, error, body));
  switch (tab) {
    case 'builtin':
      replace(body, builtinForm(context));
      break;
    case 'library':
      replace(body, libraryForm(context));
      break;
    case 'module':
      replace(body, moduleForm(context));
      break;
    case 'campaign':
      replace(body, campaignForm(context));
      break;
    case 'json':
      replace(body, jsonForm(context));
      break;
  }
}

function builtinForm(context: FormContext): HTMLElement {
  const select = h(
    'select',
    { id: 'op-select', name: 'op' },
    ...BUILTIN_OPS.map((o) => h('option', { value: o.op }, o.op)),
  );
  const details = h('div', { id: 'op-fields' });
  const taskId = h('input', { name: 'task-id', placeholder: 'auto', class: 'mono' });
  const qos = qosFields(true);
  const verify = verificationFields();
  const button = h('button', { type: 'submit', class: 'primary', id: 'submit-builtin' }, 'Submit task');
  let readOp: () => Promise<{ inputs: DataRef[]; params: JsonObject }> = async () => ({
    inputs: [],
    params: {},
  });
  const showOp = (): void => {
    const op = BUILTIN_OPS.find((o) => o.op === select.value)!;
    const built = opFields(op);
    readOp = built.read;
    replace(details, built.element);
  };
  select.addEventListener('change', showOp);
  showOp();
  const form = h(
    'form',
    { class: 'submit-form', id: 'builtin-form' },
    h(
      'div',
      { class: 'row' },
      field('Op', select),
      field('Task id', taskId, 'optional; same id + same content = same task'),
    ),
    details,
    qos.element,
    verify.element,
    button,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    guard(button, context, async () => {
      const { inputs, params } = await readOp();
      const envelope: ComputeEnvelope = {
        task_id: taskId.value.trim() || newTaskId(select.value),
        op: select.value,
        module: { kind: 'builtin' },
        requirements: qos.read(),
        inputs,
        params,
      };
      const verification = verify.read();
      if (verification !== undefined) envelope.verification = verification;
      rememberParams(envelope.task_id!, params);
      context.submitted(await context.client.submit(envelope));
    });
  });
  return form;
}

/** Param and input controls of one op, filled with its example. */
function opFields(op: CatalogOp): {
  element: HTMLElement;
  read: () => Promise<{ inputs: DataRef[]; params: JsonObject }>;
} {
  const paramControls = op.params.map((p) => {
    const value = op.example.params[p.name] ?? p.default;
    const input =
      p.type === 'bool'
        ? h('input', { type: 'checkbox', name: `param-${p.name}`, checked: value === true })
        : h('input', {
            type: 'number',
            name: `param-${p.name}`,
            step: p.type === 'u32' ? 1 : 'any',
            min: p.min,
            max: p.max,
            value: typeof value === 'number' ? value : undefined,
          });
    return { p, input };
  });
  const inputControls = op.inputs.map((t) => {
    const text = h(
      'textarea',
      { name: `input-${t.name}`, rows: 2, class: 'mono' },
      op.example.inputs[t.name] ?? '',
    );
    const file = h('input', { type: 'file', name: `file-${t.name}` });
    return { t, text, file };
  });
  const element = h(
    'div',
    {},
    h('p', { class: 'muted', id: 'op-summary' }, op.summary),
    paramControls.length === 0
      ? null
      : h(
          'fieldset',
          { class: 'row' },
          h('legend', {}, 'Params'),
          ...paramControls.map(({ p, input }) => field(p.name, input, `${p.type} · ${p.doc}`)),
        ),
    ...inputControls.map(({ t, text, file }) =>
      h(
        'fieldset',
        {},
        h('legend', {}, `Input ${t.name}: ${t.dtype}[${t.shape.join(', ')}]`),
        h(
          'small',
          { class: 'muted' },
          `${t.doc}. Numbers separated by spaces or commas, or a file of raw bytes.`,
        ),
        text,
        file,
      ),
    ),
  );
  return {
    element,
    read: async () => {
      const params: JsonObject = {};
      for (const { p, input } of paramControls) {
        if (p.type === 'bool') params[p.name] = input.checked;
        else if (input.value !== '') params[p.name] = Number(input.value);
      }
      const inputs: DataRef[] = [];
      for (const { t, text, file } of inputControls) {
        const chosen = file.files?.[0];
        let bytes: Uint8Array;
        if (chosen !== undefined) {
          bytes = new Uint8Array(await chosen.arrayBuffer());
        } else {
          try {
            bytes = encodeNumbers(text.value, t.dtype);
          } catch (caught) {
            throw new Error(`Input "${t.name}": ${(caught as Error).message}`);
          }
        }
        inputs.push({
          name: t.name,
          content_type: 'application/octet-stream',
          inline_bytes: bytes,
          tensor: { dtype: t.dtype },
        });
      }
      return { inputs, params };
    },
  };
}

/** Reads a file input's file, or the text of a textarea, as bytes. */
async function fileOrText(
  file: HTMLInputElement,
  text: HTMLTextAreaElement | HTMLInputElement,
): Promise<Uint8Array> {
  const chosen = file.files?.[0];
  if (chosen !== undefined) return new Uint8Array(await chosen.arrayBuffer());
  return new TextEncoder().encode(text.value);
}

/** Upload a WASM module (or WGSL source), content-addressed, and run it on inputs. */
function moduleForm(context: FormContext): HTMLElement {
  const kind = h(
    'select',
    { name: 'module-kind', id: 'module-kind' },
    h('option', { value: 'wasm' }, 'WASM'),
    h('option', { value: 'wgsl' }, 'WGSL'),
  );
  const file = h('input', { type: 'file', name: 'module-file', id: 'module-file', accept: '.wasm,.wgsl' });
  const source = h('textarea', {
    name: 'module-source',
    rows: 6,
    class: 'mono',
    placeholder: 'WGSL source (or choose a file)',
  });
  const entry = h('input', {
    name: 'entry',
    placeholder: 'WASI: _start; kernel/WGSL: the entry point',
    class: 'mono',
  });
  const abi = h(
    'select',
    { name: 'abi' },
    h('option', { value: 'wasi' }, 'WASI command'),
    h('option', { value: 'kernel' }, 'kernel ABI'),
  );
  const workgroups = h('input', { name: 'workgroups', placeholder: 'e.g. 64,1,1', class: 'mono' });
  const buffers = h('textarea', {
    name: 'buffers',
    rows: 3,
    class: 'mono',
    placeholder: '[{"name":"out","binding":0,"access":"read_write","size":256}]',
  });
  const op = h('input', { name: 'module-op', value: 'run', class: 'mono' });
  const inputName = h('input', { name: 'module-input-name', value: 'stdin', class: 'mono' });
  const inputText = h('textarea', {
    name: 'module-input',
    rows: 3,
    class: 'mono',
    placeholder: 'input text (stdin for WASI)',
  });
  const inputFile = h('input', { type: 'file', name: 'module-input-file' });
  const params = h('textarea', {
    name: 'module-params',
    rows: 2,
    class: 'mono',
    placeholder: '{"args": ["--fast"]}',
  });
  const uploaded = h('p', { class: 'muted mono', id: 'module-hash' });
  const qos = qosFields(false);
  kind.addEventListener('change', () => qos.prefer(kind.value === 'wgsl'));
  const verify = verificationFields();
  const button = h('button', { type: 'submit', class: 'primary', id: 'submit-module' }, 'Upload and submit');
  const form = h(
    'form',
    { class: 'submit-form', id: 'module-form' },
    h(
      'div',
      { class: 'row' },
      field('Kind', kind),
      field('Module file', file),
      field('ABI (WASM)', abi),
      field('Entry', entry),
    ),
    field('WGSL source', source),
    h('div', { class: 'row' }, field('Workgroups (WGSL)', workgroups), field('Op name', op)),
    field('Buffers (WGSL, JSON list of BufferSpec)', buffers),
    h('fieldset', {}, h('legend', {}, 'Input'), field('Name', inputName), inputText, inputFile),
    field('Params (JSON object)', params),
    qos.element,
    verify.element,
    uploaded,
    button,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    guard(button, context, async () => {
      const moduleKind = kind.value as 'wasm' | 'wgsl';
      const verification = verify.read();
      const bytes = await fileOrText(file, source);
      if (bytes.length === 0) throw new Error('Choose a module file (or paste WGSL source).');
      const ref = await context.client.uploadModule(bytes, moduleKind);
      uploaded.textContent = `uploaded ${ref.hash} (${ref.size} bytes)`;
      const module: ModuleSpec = { kind: moduleKind, uri: ref.uri, hash: ref.hash };
      if (entry.value.trim() !== '') module.entry = entry.value.trim();
      if (moduleKind === 'wasm') module.abi = abi.value;
      if (workgroups.value.trim() !== '')
        module.workgroups = workgroups.value.split(',').map((n) => Number(n.trim()));
      const envelope: ComputeEnvelope = {
        task_id: newTaskId(moduleKind),
        op: op.value.trim(),
        module,
        requirements: qos.read(),
        inputs: [
          {
            name: inputName.value.trim(),
            content_type: 'application/octet-stream',
            inline_bytes: await fileOrText(inputFile, inputText),
          },
        ],
        params: parseParams(params.value),
      };
      if (verification !== undefined) envelope.verification = verification;
      if (buffers.value.trim() !== '') {
        // Sent as the JSON view: the coordinator validates each BufferSpec and names a bad field.
        let bufferList: unknown;
        try {
          bufferList = JSON.parse(buffers.value);
        } catch (caught) {
          throw new Error(`Buffers are not JSON: ${(caught as Error).message}`);
        }
        const json = { ...toJson('ComputeEnvelope', envelope), buffers: bufferList };
        context.submitted(await context.client.submitJson(json));
        return;
      }
      context.submitted(await context.client.submit(envelope));
    });
  });
  return form;
}

const JSON_TEMPLATE = {
  task_id: 'json-1',
  op: 'reduce_sum',
  module: { kind: 'builtin' },
  requirements: { min: { webgpu: true } },
  inputs: [{ name: 'x', content_type: 'application/octet-stream', inline_bytes: 'AACAPwAAAEAAAEBAAACAQA==' }],
};

/** A ComputeEnvelope in its JSON view, as the seed writes them; the coordinator validates it. */
function jsonForm(context: FormContext): HTMLElement {
  const text = h(
    'textarea',
    { name: 'envelope-json', id: 'envelope-json', rows: 16, class: 'mono' },
    JSON.stringify({ ...JSON_TEMPLATE, task_id: newTaskId('json') }, null, 2),
  );
  const button = h('button', { type: 'submit', class: 'primary', id: 'submit-json' }, 'Submit envelope');
  const form = h(
    'form',
    { class: 'submit-form', id: 'json-form' },
    field('ComputeEnvelope (JSON view)', text),
    button,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    guard(button, context, async () => {
      let value: unknown;
      try {
        value = JSON.parse(text.value);
      } catch (caught) {
        throw new Error(`Not JSON: ${(caught as Error).message}`);
      }
      context.submitted(await context.client.submitJson(value));
    });
  });
  return form;
}
