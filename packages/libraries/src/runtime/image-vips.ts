// One input through an image call on wasm-vips: read the header (no pixels yet), refuse bombs,
// build the lazy libvips pipeline step by step as sharp does (so the reference agrees to the
// pixel), then encode, which is when libvips decodes and computes. Every handle made for the input
// is deleted when it is done (wasm-vips objects live in WASM memory, out of the JS GC's reach).
import type VipsModule from 'wasm-vips';
import { LibraryError } from '../library-error.ts';
import {
  CONTENT_TYPES,
  centreCrop,
  centreEmbed,
  checkCrop,
  type Fit,
  type ImageHeader,
  type InputFormat,
  jpegShrinkOnLoad,
  linearOf,
  type OutputSpec,
  orientationAfter,
  orientationOf,
  resolveShrink,
  type Step,
} from './image-plan.ts';

/** A loaded wasm-vips. */
export type Vips = typeof VipsModule;
type Image = VipsModule.Image;
type Target = { width?: number | undefined; height?: number | undefined };
type Turn = { angle: 0 | 90 | 180 | 270; flop: boolean };

const LOADERS: Readonly<Record<string, InputFormat>> = {
  jpegload_buffer: 'jpeg',
  pngload_buffer: 'png',
  webpload_buffer: 'webp',
  gifload_buffer: 'gif',
};

/** The libvips loaders left unblocked: every other one (TIFF, PPM, CSV, VIPS...) is refused. */
export const ALLOWED_LOADERS = [
  'VipsForeignLoadJpeg',
  'VipsForeignLoadPng',
  'VipsForeignLoadWebp',
  'VipsForeignLoadNsgif',
];

/** libvips fails on decoder errors (a truncated JPEG) instead of warning and going on; sharp too. */
export const FAIL_ON = 'error';

/** An input, as the steps see it. */
export interface VipsInput {
  name: string;
  index: number;
  bytes: Uint8Array;
}

export interface VipsOutput {
  bytes: Uint8Array;
  contentType: string;
  width: number;
  height: number;
}

/** One input's work: its handles (all deleted by `free`), its image so far and its orientation. */
export class VipsImageJob {
  private readonly handles: Image[] = [];
  private image!: Image;
  private format!: InputFormat;
  private orientation = 1;
  /** No step has run yet (sharp's one call on the encoded input). */
  private first = true;
  /** The loader again with shrink-on-load options: only before the first step. */
  private reload: ((options: { shrink?: number; scale?: number }) => Image) | undefined;

  constructor(
    private readonly vips: Vips,
    private readonly input: VipsInput,
  ) {}

  /** Opens the input (its header only) and hands the header to `check` before any pixel is read. */
  open(steps: readonly Step[], check: (header: ImageHeader) => void): ImageHeader {
    const access = steps.some(needsRandomAccess) ? 'random' : 'sequential';
    const load = (options: object) =>
      this.keep(
        this.vips.Image.newFromBuffer(this.input.bytes, '', { access, fail_on: FAIL_ON, ...options }),
      );
    let image: Image;
    try {
      image = load({});
    } catch {
      throw this.invalid('is not a JPEG, PNG, WebP or GIF image');
    }
    const format = LOADERS[image.getString('vips-loader')];
    if (!format) throw this.invalid('is not a JPEG, PNG, WebP or GIF image');
    this.orientation = image.getTypeof('orientation') ? image.getInt('orientation') : 1;
    const header: ImageHeader = {
      format,
      width: image.width,
      height: image.height,
      orientation: this.orientation,
    };
    check(header);
    this.format = format;
    this.image = this.toSrgb(image);
    if (format === 'jpeg' || format === 'webp') this.reload = (options) => this.toSrgb(load(options));
    return header;
  }

  /** Adds `step` to the pipeline (lazy: nothing is computed until `encode`). */
  apply(step: Step, path: string): void {
    this.image = this.step(step, path);
    this.orientation = orientationAfter(step, this.orientation);
    this.reload = undefined;
    this.first = false;
  }

  /** Runs the pipeline into the output format. */
  encode(output: OutputSpec): VipsOutput {
    let image = this.image;
    if (image.interpretation !== 'srgb' && image.interpretation !== 'b-w')
      image = this.keep(image.colourspace('srgb'));
    const bytes =
      output.format === 'png'
        ? image.writeToBuffer('.png', { keep: 'none' })
        : output.format === 'jpeg'
          ? image.writeToBuffer('.jpg', {
              Q: output.quality,
              optimize_coding: true,
              subsample_mode: 'on',
              keep: 'none',
            })
          : image.writeToBuffer('.webp', { Q: output.quality, keep: 'none' });
    return { bytes, contentType: CONTENT_TYPES[output.format], width: image.width, height: image.height };
  }

  /** Deletes every handle this input made. */
  free(): void {
    for (const image of this.handles) if (!image.isDeleted()) image.delete();
    this.handles.length = 0;
  }

  private keep(image: Image): Image {
    this.handles.push(image);
    return image;
  }

  private invalid(what: string): LibraryError {
    return new LibraryError('INVALID_INPUT', `${this.input.name} ${what}`, `inputs[${this.input.index}]`);
  }

  /** 8-bit sRGB or grey, as sharp colour-manages its input (embedded profile, CMYK, 16 bits). */
  private toSrgb(image: Image): Image {
    if (
      image.getTypeof('icc-profile-data') &&
      image.interpretation !== 'labs' &&
      image.interpretation !== 'grey16'
    ) {
      try {
        const depth = image.format === 'ushort' ? 16 : 8;
        image = this.keep(image.iccTransform('srgb', { embedded: true, intent: 'perceptual', depth }));
      } catch {
        // An unusable embedded profile: sharp warns and goes on without it.
      }
    } else if (image.interpretation === 'cmyk') {
      image = this.keep(image.iccTransform('srgb', { input_profile: 'cmyk', intent: 'perceptual' }));
    }
    if (image.format === 'ushort') image = this.keep(image.colourspace(image.bands < 3 ? 'b-w' : 'srgb'));
    return image;
  }

  private step(step: Step, path: string): Image {
    const image = this.image;
    switch (step.op) {
      case 'resize':
        return this.resize(step);
      case 'thumbnail':
        return this.thumbnail(step);
      case 'crop':
        checkCrop(step, image.width, image.height, path);
        return this.keep(image.extractArea(step.left, step.top, step.width, step.height));
      case 'rotate': {
        const upright = this.orient(image, step.auto_orient ? orientationOf(this.orientation) : NO_TURN);
        return this.orient(upright, { angle: step.angle, flop: false });
      }
      case 'flip':
        return this.keep(image.flip(step.direction));
      case 'grayscale':
        return this.keep(image.colourspace('b-w'));
      case 'blur':
        return this.premultiplied(image, (im) =>
          im.gaussblur(step.sigma, { precision: 'integer', min_ampl: 0.2 }),
        );
      case 'linear': {
        const { a, b } = linearOf(step);
        return this.colourOnly(image, (im) => im.linear(a, b, { uchar: true }));
      }
      case 'invert':
        return this.colourOnly(image, (im) => im.invert());
    }
  }

  /** A clockwise rotation, then a left-right mirror (how an EXIF orientation is undone). */
  private orient(image: Image, turn: Turn): Image {
    if (turn.angle) image = this.keep(image.rot(`d${turn.angle}`));
    if (turn.flop) image = this.keep(image.flip('horizontal'));
    return image;
  }

  /** sharp's resize: shrink-on-load (a first step on JPEG or WebP), libvips' resize, then crop or pad. */
  private resize(step: Extract<Step, { op: 'resize' }>): Image {
    const image = this.shrinkOnLoad(step, step.fit, false);
    return this.premultiplied(image, (im) => {
      im = this.scale(im, step, step.fit, step.kernel, false);
      const width = step.width ?? im.width;
      const height = step.height ?? im.height;
      if (step.fit === 'cover') return this.cover(im, width, height);
      if (step.fit !== 'contain' || (im.width === width && im.height === height)) return im;
      const [left, top] = centreEmbed(im.width, im.height, width, height);
      const background = im.hasAlpha()
        ? [...new Array(im.bands - 1).fill(0), 255]
        : new Array(im.bands).fill(0);
      const embed = { extend: 'background', background };
      return this.keep(im.embed(left, top, Math.max(im.width, width), Math.max(im.height, height), embed));
    });
  }

  /**
   * sharp's auto-orient + resize without enlargement. On a first step sharp resizes the stored
   * pixels (into the box turned as the image will be) and turns after; elsewhere it turns first.
   */
  private thumbnail(step: Extract<Step, { op: 'thumbnail' }>): Image {
    const turn = orientationOf(this.orientation);
    const box = { width: step.width, height: step.height };
    const crop = (im: Image) => (step.fit === 'cover' ? this.cover(im, box.width, box.height) : im);
    if (!this.first) {
      const upright = this.orient(this.image, turn);
      return this.premultiplied(upright, (im) => crop(this.scale(im, box, step.fit, 'lanczos3', true)));
    }
    const turned = turn.angle % 180 ? { width: step.height, height: step.width } : box;
    const image = this.shrinkOnLoad(turned, step.fit, true);
    return this.premultiplied(image, (im) =>
      crop(this.orient(this.scale(im, turned, step.fit, 'lanczos3', true), turn)),
    );
  }

  /** The centre `width`×`height` of an image (no larger than it). */
  private cover(image: Image, w: number, h: number): Image {
    const width = Math.min(w, image.width);
    const height = Math.min(h, image.height);
    if (width === image.width && height === image.height) return image;
    const [left, top] = centreCrop(image.width, image.height, width, height);
    return this.keep(image.extractArea(left, top, width, height));
  }

  /** The image reloaded with the decoder's own shrink, as sharp does: JPEG by 2, 4 or 8, WebP by any. */
  private shrinkOnLoad(target: Target, fit: Fit, withoutEnlargement: boolean): Image {
    if (!this.reload) return this.image;
    const [h, v] = resolveShrink(this.image.width, this.image.height, target, fit, withoutEnlargement);
    const shrink = Math.min(h, v);
    if (this.format === 'jpeg') {
      const factor = jpegShrinkOnLoad(shrink);
      return factor > 1 ? this.reload({ shrink: factor }) : this.image;
    }
    return shrink > 1 ? this.reload({ scale: 1 / shrink }) : this.image;
  }

  private scale(image: Image, target: Target, fit: Fit, kernel: string, withoutEnlargement: boolean): Image {
    const [h, v] = resolveShrink(image.width, image.height, target, fit, withoutEnlargement);
    if (h === 1 && v === 1) return image;
    return this.keep(image.resize(1 / h, { vscale: 1 / v, kernel }));
  }

  /** `fn` on premultiplied colour, as sharp resizes and blurs images with alpha. */
  private premultiplied(image: Image, fn: (image: Image) => Image): Image {
    if (!image.hasAlpha()) return this.keep(fn(image));
    const format = image.format;
    const out = this.keep(fn(this.keep(this.keep(image.premultiply()).cast(format))));
    return this.keep(this.keep(out.unpremultiply()).cast(format));
  }

  /** `fn` on the colour bands only, alpha joined back untouched. */
  private colourOnly(image: Image, fn: (image: Image) => Image): Image {
    if (!image.hasAlpha()) return this.keep(fn(image));
    const colour = this.keep(image.extractBand(0, { n: image.bands - 1 }));
    const alpha = this.keep(image.extractBand(image.bands - 1));
    return this.keep(this.keep(fn(colour)).bandjoin(alpha));
  }
}

const NO_TURN: Turn = { angle: 0, flop: false };

/** Steps that read pixels out of order (they would fail on libvips' sequential access). */
function needsRandomAccess(step: Step): boolean {
  return step.op === 'rotate' || step.op === 'flip' || step.op === 'blur' || step.op === 'thumbnail';
}
