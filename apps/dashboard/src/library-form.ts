// The "Library op" tab of the submit page: pick `<library>.<method>`, and the params form is built
// from that method's schema. The call is checked in the page as the coordinator will check it, so
// a bad param is named before any file is sent; chosen images are previewed, and the task page
// previews image outputs (./result-preview.ts).
import { libraryInput } from '@flock/client';
import { checkLibraryCall, LibraryError, METHODS, type MethodDefinition } from '@flock/libraries';
import type { DataRef, JsonObject } from '@flock/protocol';
import { h, replace } from './dom.ts';
import { type FormContext, field, guard, newTaskId, qosFields } from './form-parts.ts';
import { objectControl, type ParamControl } from './param-controls.ts';

const DEFAULT_OP = 'image.resize';

function inputHint(method: MethodDefinition): string {
  const { min, max, doc } = method.inputs;
  const count = min === max ? `${min} file${min === 1 ? '' : 's'}` : `${min} to ${max} files`;
  return `${count}${doc === undefined ? '' : `: ${doc}`}`;
}

/** Thumbnails of the chosen image files, so a person sees what they send. */
function previewFiles(files: FileList | null, into: HTMLElement): void {
  replace(
    into,
    ...Array.from(files ?? [])
      .filter((f) => f.type.startsWith('image/'))
      .slice(0, 12)
      .map((f) => h('img', { class: 'preview preview-thumb', src: URL.createObjectURL(f), alt: f.name })),
  );
}

export function libraryForm(context: FormContext): HTMLElement {
  const ops = [...METHODS.keys()];
  const libraries = [...new Set([...METHODS.values()].map((m) => m.library))];
  const select = h(
    'select',
    { id: 'library-op', name: 'library-op' },
    ...libraries.map((library) =>
      h(
        'optgroup',
        { label: library },
        ...ops.filter((op) => op.startsWith(`${library}.`)).map((op) => h('option', { value: op }, op)),
      ),
    ),
  );
  if (METHODS.has(DEFAULT_OP)) select.value = DEFAULT_OP;
  const summary = h('p', { class: 'muted', id: 'library-summary' });
  const paramsBox = h('div', { id: 'library-params' });
  const files = h('input', { type: 'file', name: 'library-files', id: 'library-files', multiple: true });
  const filesHint = h('small', {});
  const thumbs = h('div', { class: 'thumbs', id: 'library-thumbs' });
  files.addEventListener('change', () => previewFiles(files.files, thumbs));
  const qos = qosFields(false);
  const button = h('button', { type: 'submit', class: 'primary', id: 'submit-library' }, 'Submit task');
  let params: ParamControl = objectControl('Params', {}, 'params');
  const showMethod = (): void => {
    const method = METHODS.get(select.value)!;
    summary.textContent = `${method.doc}. Outputs: ${method.outputs}`;
    filesHint.textContent = inputHint(method);
    params = objectControl('Params', method.params.fields, 'params');
    replace(paramsBox, params.element);
  };
  select.addEventListener('change', showMethod);
  showMethod();
  const form = h(
    'form',
    { class: 'submit-form', id: 'library-form' },
    field('Library op', select),
    summary,
    paramsBox,
    h('fieldset', {}, h('legend', {}, 'Input files'), files, filesHint, thumbs),
    qos.element,
    button,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    guard(button, context, async () => {
      const op = select.value;
      const given = (params.read() ?? {}) as JsonObject;
      const chosen = Array.from(files.files ?? []);
      try {
        checkLibraryCall(op, given, chosen.length);
      } catch (caught) {
        if (!(caught instanceof LibraryError)) throw caught;
        throw new Error(`${caught.message} (${caught.code})`);
      }
      const inputs: DataRef[] = [];
      for (const file of chosen)
        inputs.push(await libraryInput(context.client, file.name, new Uint8Array(await file.arrayBuffer())));
      context.submitted(
        await context.client.submit({
          task_id: newTaskId(op.replace('.', '-')),
          op,
          module: { kind: 'library' },
          params: given,
          inputs,
          requirements: qos.read(),
        }),
      );
    });
  });
  return form;
}
