// image.*: libvips (wasm-vips in the tab, sharp's native libvips as the reference). Every method
// takes JPEG, PNG, WebP or GIF inputs and gives one image per input; `pipeline` chains the
// single-step methods. The tab's adapter is runtime/image.ts; the steps' meaning is in
// runtime/image-plan.ts, shared with the reference.
import { LibraryError } from '../library-error.ts';
import type { Comparison, MethodDefinition } from '../method.ts';
import { checkParams, type ParamSpec, type Params, type ParamsSchema } from '../params.ts';

/** The formats a method writes. */
export const OUTPUT_FORMATS = ['jpeg', 'png', 'webp'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The resampling kernels of `resize` (libvips' names). */
export const KERNELS = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3'] as const;

/** The largest width or height a method may ask for, pixels. */
export const MAX_SIDE = 16_384;

/** The operations a pipeline step may name: every single-step method but `convert`. */
export const STEP_OPS = [
  'resize',
  'thumbnail',
  'crop',
  'rotate',
  'flip',
  'grayscale',
  'blur',
  'linear',
  'invert',
] as const;
export type StepOp = (typeof STEP_OPS)[number];

const side = (doc: string): ParamSpec => ({ type: 'integer', doc, min: 1, max: MAX_SIDE });

/** The params of each step (a method of the same name takes them too). */
export const STEP_PARAMS: Readonly<Record<StepOp, ParamsSchema>> = {
  resize: {
    fields: {
      width: side('target width, pixels (give width, height or both)'),
      height: side('target height, pixels'),
      fit: {
        type: 'enum',
        doc: 'with both sides: cover (crop to fill), contain (pad with black), fill (stretch), inside, outside',
        values: ['cover', 'contain', 'fill', 'inside', 'outside'],
        default: 'cover',
      },
      kernel: { type: 'enum', doc: 'resampling kernel', values: KERNELS, default: 'lanczos3' },
    },
  },
  thumbnail: {
    fields: {
      width: side('box width, pixels'),
      height: side('box height, pixels (default: width)'),
      fit: {
        type: 'enum',
        doc: 'inside (whole image in the box) or cover (fill the box, centre crop)',
        values: ['inside', 'cover'],
        default: 'inside',
      },
    },
    required: ['width'],
  },
  crop: {
    fields: {
      left: { type: 'integer', doc: 'left edge, pixels from the left', min: 0, max: MAX_SIDE, default: 0 },
      top: { type: 'integer', doc: 'top edge, pixels from the top', min: 0, max: MAX_SIDE, default: 0 },
      width: side('width of the area, pixels'),
      height: side('height of the area, pixels'),
    },
    required: ['width', 'height'],
  },
  rotate: {
    fields: {
      angle: { type: 'integer', doc: 'clockwise degrees: 0, 90, 180 or 270', min: 0, max: 270, default: 0 },
      auto_orient: {
        type: 'boolean',
        doc: 'first turn the image upright as its EXIF orientation says',
        default: true,
      },
    },
  },
  flip: {
    fields: {
      direction: {
        type: 'enum',
        doc: 'horizontal (mirror left-right) or vertical (upside down)',
        values: ['horizontal', 'vertical'],
      },
    },
    required: ['direction'],
  },
  grayscale: { fields: {} },
  blur: {
    fields: { sigma: { type: 'number', doc: 'Gaussian sigma, pixels', min: 0.3, max: 100 } },
    required: ['sigma'],
  },
  linear: {
    fields: {
      brightness: {
        type: 'number',
        doc: 'added to every colour value (0..255 scale)',
        min: -255,
        max: 255,
        default: 0,
      },
      contrast: { type: 'number', doc: 'gain about mid-grey (1: unchanged)', min: 0, max: 10, default: 1 },
    },
  },
  invert: { fields: {} },
};

const STEP_DOCS: Readonly<Record<StepOp, string>> = {
  resize: 'Resize to a width and/or height, with a fit and a resampling kernel (lanczos3 by default)',
  thumbnail: 'Turn upright (EXIF), then shrink to fit a box; never enlarges',
  crop: 'Cut out an area (it must lie inside the image)',
  rotate: 'Turn upright (EXIF orientation), then rotate by 90, 180 or 270 degrees',
  flip: 'Mirror horizontally or vertically',
  grayscale: 'Convert to one-channel grey (alpha kept)',
  blur: 'Gaussian blur',
  linear: 'Brightness and contrast: out = contrast × (in − 128) + 128 + brightness, alpha untouched',
  invert: 'Negative of the colour channels, alpha untouched',
};

/** Checks what a step's schema cannot say; `path` is where its params lie (`params`, `params.steps[2]`). */
function checkStep(op: StepOp, p: Params, path: string): void {
  if (op === 'resize' && p.width === undefined && p.height === undefined)
    throw new LibraryError('INVALID_PARAMS', `${path}.width or ${path}.height is required`, `${path}.width`);
  if (op === 'rotate' && (p.angle as number) % 90 !== 0)
    throw new LibraryError('INVALID_PARAMS', `${path}.angle must be 0, 90, 180 or 270`, `${path}.angle`);
}

/** A step's params checked against its op's schema, with defaults; throws INVALID_PARAMS by field. */
export function checkedStep(op: StepOp, params: unknown, path: string): Params {
  const checked = checkParams(params, STEP_PARAMS[op], path);
  checkStep(op, checked, path);
  return checked;
}

const OUTPUT_FIELDS: Readonly<Record<string, ParamSpec>> = {
  format: {
    type: 'enum',
    doc: "output format (default: the input's; GIF inputs give PNG)",
    values: OUTPUT_FORMATS,
  },
  quality: { type: 'integer', doc: 'JPEG and WebP quality (PNG is lossless)', min: 1, max: 100, default: 80 },
};

/** The widest spec of a field that several steps take (for the pipeline's one schema of a step). */
function widen(a: ParamSpec, b: ParamSpec): ParamSpec {
  if (a.type === 'enum' && b.type === 'enum')
    return { ...a, values: [...new Set([...a.values, ...b.values])] };
  if ((a.type === 'integer' || a.type === 'number') && a.type === b.type)
    return { ...a, min: Math.min(a.min ?? 0, b.min ?? 0), max: Math.max(a.max ?? 0, b.max ?? 0) };
  return a;
}

/** Every field any step takes, without defaults: each step is then checked by its own op's schema. */
function stepFields(): Record<string, ParamSpec> {
  const fields: Record<string, ParamSpec> = {
    op: { type: 'enum', doc: 'the operation: a single-step method', values: STEP_OPS },
  };
  for (const op of STEP_OPS) {
    for (const [name, spec] of Object.entries(STEP_PARAMS[op].fields)) {
      const { default: _, ...bare } = spec as ParamSpec & { default?: unknown };
      const users = STEP_OPS.filter((o) => name in STEP_PARAMS[o].fields).join(', ');
      const known = fields[name];
      fields[name] = known
        ? widen(known, bare as ParamSpec)
        : { ...(bare as ParamSpec), doc: `${users}: ${spec.doc}` };
    }
  }
  return fields;
}

/**
 * How two volunteers' outputs are compared: decoded pixels, at most 2 apart per channel. Measured
 * with test/image.test.ts ("the runtime agrees with sharp", which asserts this rule): wasm-vips
 * 0.0.19 (libvips 8.18.7) against sharp 0.35.6 (libvips 8.18.8) on x86-64, every method, fit and
 * kernel and two pipelines on generated gradient, noise and disc images (RGB, RGBA, grey, grey +
 * alpha; JPEG, PNG, WebP, GIF and EXIF-6 JPEG inputs) with PNG output, resize with JPEG and WebP
 * output at quality 75, and a 4000x3000 JPEG resized to 800 px: the largest difference was 0. The
 * margin of 2 allows for a native build whose SIMD paths (another CPU) round a resampling step
 * differently.
 */
export const IMAGE_COMPARE = { kind: 'pixels', maxDiff: 2 } as const satisfies Comparison;

const INPUTS = { min: 1, max: 32, doc: 'JPEG, PNG, WebP or GIF images (GIF: the first frame)' };
const OUTPUTS =
  'one image per input, named after it with the extension of the output format (`cat.png` with ' +
  'format jpeg → `cat.jpg`); the summary gives each output\'s "<width>x<height>"';

function stepMethod(op: StepOp): MethodDefinition {
  const schema = STEP_PARAMS[op];
  return {
    library: 'image',
    method: op,
    doc: STEP_DOCS[op],
    params: { fields: { ...schema.fields, ...OUTPUT_FIELDS }, required: schema.required ?? [] },
    inputs: INPUTS,
    outputs: OUTPUTS,
    compare: IMAGE_COMPARE,
    check: (params) => checkStep(op, params, 'params'),
  };
}

/** The most steps a pipeline may chain. */
export const MAX_STEPS = 16;

export const IMAGE_METHODS: readonly MethodDefinition[] = [
  ...STEP_OPS.map(stepMethod),
  {
    library: 'image',
    method: 'convert',
    doc: 'Re-encode as JPEG, PNG or WebP',
    params: { fields: OUTPUT_FIELDS, required: ['format'] },
    inputs: INPUTS,
    outputs: OUTPUTS,
    compare: IMAGE_COMPARE,
  },
  {
    library: 'image',
    method: 'pipeline',
    doc: 'Steps applied in order ({op, ...its params}: any method but convert), then one encode',
    params: {
      fields: {
        steps: {
          type: 'array',
          doc: 'the steps, in order',
          minItems: 1,
          maxItems: MAX_STEPS,
          items: { type: 'object', doc: 'a step: op and its params', fields: stepFields(), required: ['op'] },
        },
        ...OUTPUT_FIELDS,
      },
      required: ['steps'],
    },
    inputs: INPUTS,
    outputs: OUTPUTS,
    compare: IMAGE_COMPARE,
    check: (params) => {
      for (const [i, step] of (params.steps as Params[]).entries()) {
        const { op, ...rest } = step;
        checkedStep(op as StepOp, rest, `params.steps[${i}]`);
      }
    },
  },
];
