// image.* in Node on sharp (native libvips 8.18): the coordinator's twin of the tab's wasm-vips
// runtime. Each step is sharp's own operation (resize with its fit and kernel, extract, rotate,
// autoOrient, greyscale, blur, linear, negate), one sharp call per step on the output of the last
// (a lossless PNG between calls; the last step's call encodes). Limits, names and errors come from
// the same plan as the tab's (runtime/image-plan.ts), so both refuse the same inputs the same way.
import sharp, { type KernelEnum, type Sharp } from 'sharp';
import { LIBRARIES } from '../libraries.ts';
import { LibraryError } from '../library-error.ts';
import type { CheckedCall } from '../registry.ts';
import {
  CONTENT_TYPES,
  checkCrop,
  checkDeclared,
  checkPlan,
  type ImageHeader,
  type InputFormat,
  libraryErrorOf,
  linearOf,
  maxPixels,
  type OutputSpec,
  orientationAfter,
  orientationOf,
  outputName,
  outputOf,
  type Step,
  stepPath,
  stepsOf,
} from '../runtime/image-plan.ts';
import type { LibraryInput, LibraryOutput, LibraryResult } from '../runtime/runtime.ts';

const FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'gif']);

/** The image so far: the input's bytes, or a lossless PNG that a step wrote. */
interface Current {
  bytes: Uint8Array;
  width: number;
  height: number;
  /** One grey channel (and perhaps alpha): every call keeps it grey, as wasm-vips does. */
  grey: boolean;
  /** The input's own bytes: sharp may shrink on load and sees its EXIF orientation. */
  first: boolean;
}

/** One sharp call of a step, on the current image. */
type Stage = (image: Sharp, current: Current) => Sharp;

async function headerOf(
  bytes: Uint8Array,
  name: string,
  index: number,
): Promise<ImageHeader & { grey: boolean; deep: boolean }> {
  // sharp throws at once on an empty buffer, and rejects on bytes it cannot read: both are unreadable.
  const meta = await Promise.resolve()
    .then(() => sharp(bytes, { failOn: 'error', limitInputPixels: false }).metadata())
    .catch(() => undefined);
  if (!meta?.format || !FORMATS.has(meta.format) || !meta.width || !meta.height)
    throw new LibraryError(
      'INVALID_INPUT',
      `${name} is not a JPEG, PNG, WebP or GIF image`,
      `inputs[${index}]`,
    );
  return {
    format: meta.format as InputFormat,
    width: meta.width,
    height: meta.height,
    orientation: meta.orientation ?? 1,
    grey: (meta.channels ?? 3) <= 2,
    deep: meta.depth === 'ushort',
  };
}

/** A clockwise rotation by `angle`, then a left-right mirror: one sharp call (which mirrors first). */
function turn(image: Sharp, angle: number, flop: boolean): Sharp {
  const degrees = (((flop ? -angle : angle) % 360) + 360) % 360;
  if (flop) image = image.flop();
  return degrees ? image.rotate(degrees) : image;
}

/**
 * The sharp calls of a step, given the EXIF orientation still to undo. The first step's call reads
 * the input itself: sharp's autoOrient sees its orientation and its shrink-on-load applies.
 */
function stagesOf(step: Step, orientation: number, first: boolean, path: string): Stage[] {
  switch (step.op) {
    case 'resize':
      return [
        (s) =>
          s.resize({
            ...(step.width ? { width: step.width } : {}),
            ...(step.height ? { height: step.height } : {}),
            fit: step.fit,
            kernel: step.kernel as keyof KernelEnum,
            background: { r: 0, g: 0, b: 0, alpha: 1 },
          }),
      ];
    case 'thumbnail': {
      const box = { width: step.width, height: step.height, fit: step.fit, withoutEnlargement: true };
      if (first) return [(s) => s.autoOrient().resize(box)];
      const { angle, flop } = orientationOf(orientation);
      return [...(angle || flop ? [(s: Sharp) => turn(s, angle, flop)] : []), (s) => s.resize(box)];
    }
    case 'crop':
      return [
        (s, c) => {
          checkCrop(step, c.width, c.height, path);
          return s.extract({ left: step.left, top: step.top, width: step.width, height: step.height });
        },
      ];
    case 'rotate': {
      if (first && step.auto_orient) return [(s) => turn(s.autoOrient(), step.angle, false)];
      // rot(a), mirror, rot(angle) = mirror, then rot(angle − a); without the mirror, rot(a + angle).
      const { angle: a, flop } = step.auto_orient ? orientationOf(orientation) : { angle: 0, flop: false };
      return [(s) => (flop ? turn(s, a - step.angle, true) : turn(s, a + step.angle, false))];
    }
    case 'flip':
      return [(s) => (step.direction === 'horizontal' ? s.flop() : s.flip())];
    case 'grayscale':
      return [(s) => s.greyscale()];
    case 'blur':
      return [(s) => s.blur(step.sigma)];
    case 'linear': {
      const { a, b } = linearOf(step);
      return [(s) => s.linear(a, b)];
    }
    case 'invert':
      return [(s) => s.negate({ alpha: false })];
  }
}

function encode(image: Sharp, spec: OutputSpec): Sharp {
  if (spec.format === 'jpeg') return image.jpeg({ quality: spec.quality });
  if (spec.format === 'webp') return image.webp({ quality: spec.quality });
  return image.png();
}

/** One sharp call on the current image; its result is the next current image. */
async function call(
  current: Current,
  stage: Stage,
  out: (s: Sharp) => Sharp,
  limit: number,
): Promise<Current> {
  let image = sharp(current.bytes, { failOn: 'error', limitInputPixels: limit });
  image = stage(image, current);
  if (current.grey) image = image.toColourspace('b-w');
  const { data, info } = await out(image).toBuffer({ resolveWithObject: true });
  return { bytes: data, width: info.width, height: info.height, grey: current.grey, first: false };
}

async function referenceOne(
  call_: CheckedCall,
  steps: Step[],
  input: LibraryInput,
  index: number,
  limit: number,
): Promise<{ header: ImageHeader; current: Current }> {
  checkDeclared(input.bytes, limit, input.name, index);
  const header = await headerOf(input.bytes, input.name, index);
  checkPlan(header, steps, call_, limit, index);
  const spec = outputOf(call_, header.format);
  let grey = header.grey;
  // 16-bit input: brought to 8 bits first (EXIF kept), as wasm-vips does on load, so that every step
  // (linear's offsets, say) works on 0..255 values as documented.
  const stages: { stage: Stage; grey: boolean }[] = header.deep ? [{ stage: (s) => s.keepExif(), grey }] : [];
  let orientation = header.orientation;
  for (const [i, step] of steps.entries()) {
    grey ||= step.op === 'grayscale';
    for (const stage of stagesOf(step, orientation, i === 0, stepPath(call_, i)))
      stages.push({ stage, grey });
    orientation = orientationAfter(step, orientation);
  }
  if (stages.length === 0) stages.push({ stage: (s) => s, grey });
  let current: Current = {
    bytes: input.bytes,
    width: header.width,
    height: header.height,
    grey: header.grey,
    first: true,
  };
  for (const [i, { stage, grey: greyAfter }] of stages.entries()) {
    const last = i === stages.length - 1;
    const out = last ? (s: Sharp) => encode(s, spec) : (s: Sharp) => s.png({ compressionLevel: 0 });
    current = await call({ ...current, grey: greyAfter }, stage, out, limit);
  }
  return { header, current };
}

/** The reference of every image method (sharp); throws LibraryError as the tab does. */
export async function runImageReference(call_: CheckedCall, inputs: LibraryInput[]): Promise<LibraryResult> {
  const steps = stepsOf(call_);
  const limit = maxPixels(LIBRARIES.image.limits);
  const outputs: LibraryOutput[] = [];
  const summary: Record<string, string> = {};
  const used = new Set<string>();
  for (const [index, input] of inputs.entries()) {
    try {
      const { header, current } = await referenceOne(call_, steps, input, index, limit);
      const spec = outputOf(call_, header.format);
      const name = outputName(input.name, spec.format, used);
      outputs.push({ name, contentType: CONTENT_TYPES[spec.format], bytes: new Uint8Array(current.bytes) });
      summary[name] = `${current.width}x${current.height}`;
    } catch (err) {
      throw libraryErrorOf(err, input.name, index);
    }
  }
  return { outputs, summary };
}
