// Form controls built from a library method's params schema (@flock/libraries ParamSpec): numbers,
// text, choices and nested objects get their own controls; lists of choices are checkboxes; other
// lists and maps are typed as JSON. A control left empty is not sent, so the schema's default holds.
import type { ParamSpec } from '@flock/libraries';
import { h } from './dom.ts';
import { field } from './form-parts.ts';

export interface ParamControl {
  element: HTMLElement;
  /** The value typed in, or undefined when the field was left empty. Throws naming a bad field. */
  read: () => unknown;
}

function hint(spec: ParamSpec): string {
  const notes: string[] = [spec.doc];
  if (
    (spec.type === 'integer' || spec.type === 'number') &&
    (spec.min !== undefined || spec.max !== undefined)
  )
    notes.push(`${spec.min ?? '…'} to ${spec.max ?? '…'}`);
  if ('default' in spec && spec.default !== undefined) notes.push(`default ${JSON.stringify(spec.default)}`);
  return notes.join(' · ');
}

/** A select of `values` with a first, empty choice meaning "the default". */
function choice(name: string, values: readonly string[], spec: ParamSpec): HTMLSelectElement {
  const unset = 'default' in spec && spec.default !== undefined ? `(default: ${spec.default})` : '(not set)';
  return h(
    'select',
    { name },
    h('option', { value: '' }, unset),
    ...values.map((v) => h('option', { value: v }, v)),
  );
}

function jsonControl(label: string, name: string, spec: ParamSpec, path: string): ParamControl {
  const text = h('textarea', { name, rows: 3, class: 'mono', placeholder: 'JSON' });
  return {
    element: field(label, text, hint(spec)),
    read: () => {
      if (text.value.trim() === '') return undefined;
      try {
        return JSON.parse(text.value);
      } catch (caught) {
        throw new Error(`${path}: not JSON (${(caught as Error).message})`);
      }
    },
  };
}

/** The control of one param at `path` (`params.width`, `params.argon2.salt`). */
export function paramControl(label: string, spec: ParamSpec, path: string): ParamControl {
  const name = `param-${path.slice('params.'.length)}`;
  switch (spec.type) {
    case 'integer':
    case 'number': {
      const input = h('input', {
        type: 'number',
        name,
        min: spec.min,
        max: spec.max,
        step: spec.type === 'integer' ? 1 : 'any',
        placeholder: spec.default === undefined ? '' : String(spec.default),
      });
      return {
        element: field(label, input, hint(spec)),
        read: () => (input.value === '' ? undefined : Number(input.value)),
      };
    }
    case 'string': {
      const input = h('input', { name, class: 'mono', placeholder: spec.default ?? '' });
      return {
        element: field(label, input, hint(spec)),
        read: () => (input.value === '' ? undefined : input.value),
      };
    }
    case 'boolean': {
      const select = choice(name, ['true', 'false'], spec);
      return {
        element: field(label, select, hint(spec)),
        read: () => (select.value === '' ? undefined : select.value === 'true'),
      };
    }
    case 'enum': {
      const select = choice(name, spec.values, spec);
      return {
        element: field(label, select, hint(spec)),
        read: () => (select.value === '' ? undefined : select.value),
      };
    }
    case 'array':
      return spec.items.type === 'enum'
        ? checkboxes(label, name, spec, spec.items.values)
        : jsonControl(label, name, spec, path);
    case 'object':
      return objectControl(label, spec.fields, path, spec.doc);
    case 'map':
      return jsonControl(label, name, spec, path);
  }
}

function checkboxes(label: string, name: string, spec: ParamSpec, values: readonly string[]): ParamControl {
  const boxes = values.map((v) => h('input', { type: 'checkbox', name, value: v }));
  const element = h(
    'fieldset',
    { class: 'row' },
    h('legend', {}, label),
    ...boxes.map((box) => h('label', { class: 'check' }, box, ` ${box.value}`)),
    h('small', {}, hint(spec)),
  );
  return {
    element,
    read: () => {
      const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
      return chosen.length === 0 ? undefined : chosen;
    },
  };
}

/** A fieldset of an object's fields; undefined when none of them was filled in. */
export function objectControl(
  label: string,
  fields: Readonly<Record<string, ParamSpec>>,
  path: string,
  doc?: string,
): ParamControl {
  const controls = Object.entries(fields).map(([key, spec]) => ({
    key,
    control: paramControl(key, spec, `${path}.${key}`),
  }));
  const element = h(
    'fieldset',
    { class: 'row' },
    h('legend', {}, label),
    doc === undefined ? null : h('small', { class: 'muted' }, doc),
    ...controls.map(({ control }) => control.element),
  );
  return {
    element,
    read: () => {
      const out: Record<string, unknown> = {};
      for (const { key, control } of controls) {
        const value = control.read();
        if (value !== undefined) out[key] = value;
      }
      return Object.keys(out).length === 0 ? undefined : out;
    },
  };
}
