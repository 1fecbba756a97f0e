// What an image call means, without a library: its steps with their defaults, the output format
// and name, the pixel limit and the geometry of each step (sharp's rules, so the tab's wasm-vips
// and the reference's sharp agree to the pixel). Shared by runtime/image-vips.ts and the Node
// reference; pure, so it runs (and is tested) anywhere.
import { LibraryError } from '../library-error.ts';
import type { LibraryLimits } from '../method.ts';
import { checkedStep, type OutputFormat, STEP_OPS, type StepOp } from '../methods/image.ts';
import type { Params } from '../params.ts';
import type { CheckedCall } from '../registry.ts';
import { ascii, declaredSize } from './image-sniff.ts';

/** The formats an input may be in. */
export type InputFormat = 'jpeg' | 'png' | 'webp' | 'gif';

/** What an input's header says, read before any pixel is decoded. */
export interface ImageHeader {
  format: InputFormat;
  width: number;
  height: number;
  /** EXIF orientation, 1 (upright) to 8. */
  orientation: number;
}

export type Step =
  | { op: 'resize'; width?: number; height?: number; fit: Fit; kernel: string }
  | { op: 'thumbnail'; width: number; height: number; fit: 'inside' | 'cover' }
  | { op: 'crop'; left: number; top: number; width: number; height: number }
  | { op: 'rotate'; angle: 0 | 90 | 180 | 270; auto_orient: boolean }
  | { op: 'flip'; direction: 'horizontal' | 'vertical' }
  | { op: 'grayscale' }
  | { op: 'blur'; sigma: number }
  | { op: 'linear'; brightness: number; contrast: number }
  | { op: 'invert' };

export type Fit = 'cover' | 'contain' | 'fill' | 'inside' | 'outside';

/** The steps of a checked call, each with its defaults (`convert` has none). */
export function stepsOf(call: CheckedCall): Step[] {
  const { method } = call.method;
  if (method === 'convert') return [];
  if (method === 'pipeline') {
    return (call.params.steps as Params[]).map((raw, i) => {
      const { op, ...rest } = raw;
      return toStep(op as StepOp, checkedStep(op as StepOp, rest, `params.steps[${i}]`));
    });
  }
  if (!(STEP_OPS as readonly string[]).includes(method))
    throw new LibraryError('UNKNOWN_METHOD', `image.${method} has no runtime`, 'op');
  const { format: _f, quality: _q, ...params } = call.params;
  return [toStep(method as StepOp, params)];
}

function toStep(op: StepOp, p: Params): Step {
  if (op === 'thumbnail') return { op, ...p, height: (p.height ?? p.width) as number } as Step;
  return { op, ...p } as Step;
}

export interface OutputSpec {
  format: OutputFormat;
  quality: number;
}

/** The output format: the one asked for, else the input's (a GIF gives PNG). */
export function outputOf(call: CheckedCall, input: InputFormat): OutputSpec {
  const asked = call.params.format as OutputFormat | undefined;
  const format = asked ?? (input === 'gif' ? 'png' : input);
  return { format, quality: call.params.quality as number };
}

export const CONTENT_TYPES: Readonly<Record<OutputFormat, string>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};

const EXTENSIONS: Readonly<Record<OutputFormat, readonly string[]>> = {
  jpeg: ['jpg', 'jpeg', 'jpe', 'jfif'],
  png: ['png'],
  webp: ['webp'],
};

/**
 * An output's name: the input's with the format's extension (`cat.png` → `cat.jpg`; `cat.jpeg`
 * stays). Names already given in `used` get `-2`, `-3`... before the extension.
 */
export function outputName(input: string, format: OutputFormat, used: Set<string>): string {
  const slash = input.lastIndexOf('/');
  const dot = input.lastIndexOf('.');
  const hasExt = dot > slash + 1;
  const ext = hasExt ? input.slice(dot + 1).toLowerCase() : '';
  const stem = hasExt ? input.slice(0, dot) : input;
  const suffix = EXTENSIONS[format].includes(ext) ? input.slice(dot + 1) : EXTENSIONS[format][0];
  let name = `${stem}.${suffix}`;
  for (let n = 2; used.has(name); n++) name = `${stem}-${n}.${suffix}`;
  used.add(name);
  return name;
}

/** The most pixels an image may have, the default: 100 megapixels. */
export const MAX_PIXELS = 100_000_000;

/**
 * The pixel limit of a job: 100 megapixels, or fewer where its WASM memory is smaller (8 bytes of
 * memory per pixel: an RGBA image decoded whole, and its copy).
 */
export function maxPixels(limits: Pick<LibraryLimits, 'memoryPages'>): number {
  return Math.min(MAX_PIXELS, Math.floor((limits.memoryPages * 65_536) / 8));
}

/** Refuses an input, or an image a step would make, with more than `limit` pixels. */
export function checkPixels(width: number, height: number, limit: number, field: string, what: string): void {
  if (width * height > limit) {
    throw new LibraryError(
      'PIXEL_LIMIT',
      `${what} is ${width}x${height} (${width * height} pixels), more than the limit of ${limit}`,
      field,
    );
  }
}

/**
 * Refuses an input whose first bytes declare more than `limit` pixels, before any library reads it
 * (image-sniff.ts says why), and a WebP whose size they do not give.
 */
export function checkDeclared(bytes: Uint8Array, limit: number, name: string, index: number): void {
  const size = declaredSize(bytes);
  if (size) checkPixels(size.width, size.height, limit, `inputs[${index}]`, `input ${index}`);
  else if (ascii(bytes, 8, 'WEBP'))
    throw new LibraryError('INVALID_INPUT', `${name}: a WebP without a readable size`, `inputs[${index}]`);
}

/** sharp's shrink factors for a target size (its `ResolveShrink`), never below one pixel. */
export function resolveShrink(
  width: number,
  height: number,
  target: { width?: number | undefined; height?: number | undefined },
  fit: Fit,
  withoutEnlargement = false,
): [number, number] {
  let h = 1;
  let v = 1;
  const tw = target.width;
  const th = target.height;
  if (tw !== undefined && th !== undefined) {
    h = width / tw;
    v = height / th;
    if (fit === 'cover' || fit === 'outside') h = v = Math.min(h, v);
    else if (fit === 'contain' || fit === 'inside') h = v = Math.max(h, v);
  } else if (tw !== undefined) {
    h = width / tw;
    if (fit !== 'fill') v = h;
  } else if (th !== undefined) {
    v = height / th;
    if (fit !== 'fill') h = v;
  }
  if (withoutEnlargement) {
    h = Math.max(1, h);
    v = Math.max(1, v);
  }
  return [Math.min(h, width), Math.min(v, height)];
}

/** The JPEG decoder's shrink-on-load factor for a shrink (sharp's, with its libjpeg rounding rule). */
export function jpegShrinkOnLoad(shrink: number): 1 | 2 | 4 | 8 {
  let factor: 1 | 2 | 4 | 8 = shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1;
  if (factor > 1 && Math.trunc(shrink) === factor) factor = (factor / 2) as 1 | 2 | 4;
  return factor;
}

/** Where a `width`×`height` area is cut from the centre of an image (sharp's gravity centre). */
export function centreCrop(inW: number, inH: number, width: number, height: number): [number, number] {
  return [Math.trunc((inW - width + 1) / 2), Math.trunc((inH - height + 1) / 2)];
}

/** Where an image is placed in the centre of a larger canvas (sharp's embed, gravity centre). */
export function centreEmbed(inW: number, inH: number, width: number, height: number): [number, number] {
  return [Math.trunc((width - inW) / 2), Math.trunc((height - inH) / 2)];
}

/** How an EXIF orientation is undone: a clockwise rotation, then a left-right mirror. */
export function orientationOf(orientation: number): { angle: 0 | 90 | 180 | 270; flop: boolean } {
  switch (orientation) {
    case 2:
      return { angle: 0, flop: true };
    case 3:
      return { angle: 180, flop: false };
    case 4:
      return { angle: 180, flop: true };
    case 5:
      return { angle: 90, flop: true };
    case 6:
      return { angle: 90, flop: false };
    case 7:
      return { angle: 270, flop: true };
    case 8:
      return { angle: 270, flop: false };
    default:
      return { angle: 0, flop: false };
  }
}

/** The crop of a step must lie inside the image it is given; throws INVALID_PARAMS naming the side. */
export function checkCrop(
  step: Extract<Step, { op: 'crop' }>,
  width: number,
  height: number,
  path: string,
): void {
  if (step.left + step.width > width)
    throw new LibraryError(
      'INVALID_PARAMS',
      `${path}.left + width (${step.left + step.width}) passes the image's width of ${width}`,
      `${path}.width`,
    );
  if (step.top + step.height > height)
    throw new LibraryError(
      'INVALID_PARAMS',
      `${path}.top + height (${step.top + step.height}) passes the image's height of ${height}`,
      `${path}.height`,
    );
}

/** Where a step's params lie: `params` for a single-step method, `params.steps[i]` in a pipeline. */
export const stepPath = (call: CheckedCall, i: number): string =>
  call.method.method === 'pipeline' ? `params.steps[${i}]` : 'params';

/**
 * The size of the image a step makes from a `width`×`height` one, before any pixel is decoded (for
 * the pixel limit; a shrink-on-load may change the result by a pixel).
 */
export function sizeAfter(step: Step, width: number, height: number, orientation: number): [number, number] {
  switch (step.op) {
    case 'resize': {
      const [h, v] = resolveShrink(width, height, step, step.fit);
      const w = Math.round(width / h);
      const ht = Math.round(height / v);
      if (step.fit === 'contain') return [Math.max(w, step.width ?? w), Math.max(ht, step.height ?? ht)];
      if (step.fit === 'cover') return [Math.min(w, step.width ?? w), Math.min(ht, step.height ?? ht)];
      return [w, ht];
    }
    case 'thumbnail': {
      const [ow, oh] = orientationOf(orientation).angle % 180 ? [height, width] : [width, height];
      const [h, v] = resolveShrink(ow, oh, step, step.fit, true);
      const w = Math.round(ow / h);
      const ht = Math.round(oh / v);
      return step.fit === 'cover' ? [Math.min(w, step.width), Math.min(ht, step.height)] : [w, ht];
    }
    case 'crop':
      return [step.width, step.height];
    case 'rotate': {
      const turn = (step.auto_orient ? orientationOf(orientation).angle : 0) + step.angle;
      return turn % 180 ? [height, width] : [width, height];
    }
    default:
      return [width, height];
  }
}

/** The EXIF orientation left for the steps after `step` (the upright-turning steps use it up). */
export function orientationAfter(step: Step, orientation: number): number {
  if (step.op === 'thumbnail' || (step.op === 'rotate' && step.auto_orient)) return 1;
  return orientation;
}

/**
 * Refuses, before decoding, an input or a step's image past the pixel limit (a decompression bomb,
 * or an upscale to one). `index` is the input's.
 */
export function checkPlan(
  header: ImageHeader,
  steps: Step[],
  call: CheckedCall,
  limit: number,
  index: number,
): void {
  checkPixels(header.width, header.height, limit, `inputs[${index}]`, `input ${index}`);
  let [w, h] = [header.width, header.height];
  let orientation = header.orientation;
  for (const [i, step] of steps.entries()) {
    [w, h] = sizeAfter(step, w, h, orientation);
    orientation = orientationAfter(step, orientation);
    checkPixels(w, h, limit, stepPath(call, i), `the ${step.op} of input ${index}`);
  }
}

/** A library's error message: wasm-vips throws WebAssembly.Exceptions whose message is [type, text]. */
export function messageOf(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message;
  if (Array.isArray(message)) return String(message[message.length - 1]).trim();
  if (typeof message === 'string') return message.trim();
  return String(err);
}

// libvips' decoders name themselves in their errors (VipsJpeg, pngload, gifload, webp2vips...).
const DECODE_ERROR =
  /(VipsJpeg|VipsPng|VipsWebp|VipsGif|VipsForeignLoad|jpegload|pngload|webpload|gifload|nsgif|libspng|libpng|webp2vips|premature end|not a known|unsupported image format|corrupt|truncated)/i;

/** A library failure as the LibraryError it means: unreadable input, or the library's own failure. */
export function libraryErrorOf(err: unknown, inputName: string, index: number): LibraryError {
  if (err instanceof LibraryError) return err;
  const message = messageOf(err).replace(/\s+/g, ' ').slice(0, 300);
  if (DECODE_ERROR.test(message))
    return new LibraryError(
      'INVALID_INPUT',
      `${inputName} cannot be decoded: ${message}`,
      `inputs[${index}]`,
    );
  return new LibraryError('LIBRARY_ERROR', `${inputName}: ${message}`, `inputs[${index}]`);
}

/** The linear transform of a `linear` step: out = a × in + b. */
export function linearOf(step: Extract<Step, { op: 'linear' }>): { a: number; b: number } {
  return { a: step.contrast, b: step.brightness + 128 * (1 - step.contrast) };
}
