// The campaign form of the submit page: one module (a built-in op or an uploaded WASM module)
// over many inputs, one task per line (a built-in op's params and inputs) or per file, like DCP's
// compute.for.
import type { ComputeEnvelope } from '@flock/protocol';
import { BUILTIN_OPS, type CatalogOp } from './builtin-catalog.ts';
import { builtinCampaignLine, exampleCampaignLine } from './campaign-lines.ts';
import { h } from './dom.ts';
import { type FormContext, field, guard, newTaskId, qosFields } from './form-parts.ts';
import { rememberParams } from './output-tensor.ts';
import { verificationFields } from './verification-view.ts';

/** One module over many inputs (like DCP's compute.for): one task per line or per file. */
export function campaignForm(context: FormContext): HTMLElement {
  const source = h(
    'select',
    { name: 'campaign-module', id: 'campaign-module' },
    ...BUILTIN_OPS.map((o) => h('option', { value: `builtin:${o.op}` }, `built-in ${o.op}`)),
    h('option', { value: 'wasm' }, 'uploaded WASM module'),
  );
  const file = h('input', { type: 'file', name: 'campaign-wasm', accept: '.wasm' });
  source.value = 'builtin:mandelbrot';
  const qos = qosFields(true);
  const lines = h(
    'textarea',
    { name: 'campaign-lines', id: 'campaign-lines', rows: 6, class: 'mono' },
    exampleLines(source.value),
  );
  // Choosing another module asks for what it runs on (a built-in op: WebGPU; WASM: WASM) and
  // shows its example, unless the lines are the person's own.
  let shownExample = lines.value;
  source.addEventListener('change', () => {
    qos.prefer(source.value.startsWith('builtin:'));
    if (lines.value !== shownExample) return;
    shownExample = exampleLines(source.value);
    lines.value = shownExample;
  });
  const files = h('input', { type: 'file', name: 'campaign-files', multiple: true });
  const campaignId = h('input', { name: 'campaign-id', placeholder: 'auto', class: 'mono' });
  const verify = verificationFields();
  const button = h('button', { type: 'submit', class: 'primary', id: 'submit-campaign' }, 'Submit campaign');
  const form = h(
    'form',
    { class: 'submit-form', id: 'campaign-form' },
    h(
      'div',
      { class: 'row' },
      field('Module', source),
      field('WASM file', file),
      field('Campaign id', campaignId),
    ),
    field(
      'One task per line',
      lines,
      'built-in op: a JSON object per line, its params and its inputs as lists of numbers (saxpy: {"a": 2, "x": [1, 2], "y": [3, 4]}); WASM: the stdin text per line',
    ),
    field('…or one task per file (WASM stdin)', files),
    qos.element,
    verify.element,
    button,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    guard(button, context, async () => {
      const id = campaignId.value.trim() || newTaskId('campaign');
      const requirements = qos.read();
      const verification = verify.read();
      const envelopes: ComputeEnvelope[] = [];
      const rows = lines.value.split('\n').filter((l) => l.trim() !== '');
      if (source.value.startsWith('builtin:')) {
        const op = builtinOp(source.value);
        rows.forEach((row, i) => {
          let task: ReturnType<typeof builtinCampaignLine>;
          try {
            task = builtinCampaignLine(op, row);
          } catch (caught) {
            throw new Error(`Line ${i + 1}: ${(caught as Error).message}`);
          }
          rememberParams(`${id}-${i}`, task.params);
          envelopes.push({
            task_id: `${id}-${i}`,
            op: op.op,
            module: { kind: 'builtin' },
            requirements,
            inputs: task.inputs,
            params: task.params,
            campaign_id: id,
            ...(verification === undefined ? {} : { verification }),
          });
        });
      } else {
        const chosen = file.files?.[0];
        if (chosen === undefined) throw new Error('Choose the WASM module file.');
        const module = await context.client.moduleSpec(new Uint8Array(await chosen.arrayBuffer()), 'wasm');
        const inputs: Uint8Array[] =
          files.files !== null && files.files.length > 0
            ? await Promise.all(Array.from(files.files, async (f) => new Uint8Array(await f.arrayBuffer())))
            : rows.map((row) => new TextEncoder().encode(row));
        inputs.forEach((bytes, i) => {
          envelopes.push({
            task_id: `${id}-${i}`,
            op: 'map',
            module,
            requirements,
            inputs: [{ name: 'stdin', content_type: 'application/octet-stream', inline_bytes: bytes }],
            campaign_id: id,
            ...(verification === undefined ? {} : { verification }),
          });
        });
      }
      if (envelopes.length === 0) throw new Error('The campaign has no inputs.');
      const created = await context.client.submitCampaign(envelopes, id);
      for (const task of created.tasks) if (task.view !== undefined) context.live.upsert(task.view);
      location.hash = `#/campaign/${encodeURIComponent(created.campaign_id)}`;
    });
  });
  return form;
}

const MANDELBROT_LINES = [
  '{"width": 128, "height": 96, "x_min": -2, "x_max": 1}',
  '{"width": 128, "height": 96, "x_min": -0.8, "x_max": -0.6, "y_min": -0.2, "y_max": 0}',
  '{"width": 128, "height": 96, "x_min": -1.5, "x_max": -1.2, "y_min": -0.1, "y_max": 0.1}',
].join('\n');

function builtinOp(value: string): CatalogOp {
  return BUILTIN_OPS.find((o) => `builtin:${o.op}` === value)!;
}

/** The lines the form shows for a module choice: a few tasks a person can submit as they are. */
function exampleLines(value: string): string {
  if (value === 'builtin:mandelbrot') return MANDELBROT_LINES;
  if (!value.startsWith('builtin:')) return 'first stdin\nsecond stdin';
  return exampleCampaignLine(builtinOp(value));
}
