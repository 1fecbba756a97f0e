// Pieces the submit page's forms share: labelled fields, the requirements/QoS fieldset, task ids,
// and the guard that runs a form's action with its button disabled.
import type { FlockClient, TaskView } from '@flock/client';
import type { JsonObject, Requirements } from '@flock/protocol';
import { h } from './dom.ts';
import type { LiveTasks } from './live-tasks.ts';

/** `prefix-<8 hex>`; getRandomValues works on plain-http pages, where randomUUID does not exist. */
export function newTaskId(prefix = 'dash'): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export interface FormContext {
  client: FlockClient;
  live: LiveTasks;
  fail: (error: unknown) => void;
  clearError: () => void;
  submitted: (task: { id: string; view: TaskView | undefined }) => void;
}

/** Runs a form action with its button disabled; errors land in the page's error box. */
export function guard(button: HTMLButtonElement, context: FormContext, action: () => Promise<void>): void {
  context.clearError();
  button.disabled = true;
  action()
    .catch(context.fail)
    .finally(() => {
      button.disabled = false;
    });
}

export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  return h(
    'label',
    { class: 'field' },
    h('span', {}, label),
    control,
    hint === undefined ? null : h('small', {}, hint),
  );
}

/**
 * The requirements/QoS fieldset; `needs WebGPU` starts checked when `gpuDefault`, else `needs
 * WASM`. `prefer` flips them when the form's module changes (WGSL or a built-in op: WebGPU; WASM:
 * WASM), so a WASM task is not held for a GPU nor a WGSL one refused for lacking one.
 */
export function qosFields(gpuDefault: boolean): {
  element: HTMLElement;
  read: () => Requirements;
  prefer: (gpu: boolean) => void;
} {
  const webgpu = h('input', { type: 'checkbox', name: 'require-webgpu', checked: gpuDefault });
  const wasm = h('input', { type: 'checkbox', name: 'require-wasm', checked: !gpuDefault });
  const priority = h('input', { type: 'number', name: 'priority', value: 0, min: -10, max: 10 });
  const deadline = h('input', { type: 'number', name: 'deadline-ms', value: 0, min: 0 });
  const retries = h('input', { type: 'number', name: 'retries', value: 0, min: 0, max: 20 });
  const element = h(
    'fieldset',
    { class: 'row' },
    h('legend', {}, 'Requirements and QoS'),
    h('label', { class: 'check' }, webgpu, ' needs WebGPU'),
    h('label', { class: 'check' }, wasm, ' needs WASM'),
    field('priority', priority),
    field('deadline (ms)', deadline, '0 = none'),
    field('retries', retries),
  );
  return {
    element,
    prefer: (gpu) => {
      webgpu.checked = gpu;
      wasm.checked = !gpu;
    },
    read: () => {
      const qos = {
        priority: Number(priority.value),
        deadline_ms: Number(deadline.value),
        retries: Number(retries.value),
      };
      return {
        min: { ...(webgpu.checked ? { webgpu: true } : {}), ...(wasm.checked ? { wasm: true } : {}) },
        qos,
      };
    },
  };
}

/** A JSON object typed by a person (empty: `{}`); throws a message saying what is wrong. */
export function parseParams(text: string): JsonObject {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (caught) {
    throw new Error(`Params are not JSON: ${(caught as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Error('Params must be a JSON object');
  return value as JsonObject;
}
