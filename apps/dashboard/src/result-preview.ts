import type { DataRef } from '@flock/protocol';
import { h } from './dom.ts';

const TEXT_LIMIT = 64 * 1024;

/**
 * A preview of one output: JSON pretty-printed, text as text, images as images, 2-D numeric
 * tensors as a heat map (image ops such as mandelbrot), other tensors as their first values,
 * anything else as a hex dump of its first bytes.
 */
export function previewOutput(ref: DataRef, bytes: Uint8Array): HTMLElement {
  const type = ref.content_type ?? '';
  if (ref.inline_json !== undefined || type.includes('json')) {
    const text = ref.inline_json ?? new TextDecoder().decode(bytes.subarray(0, TEXT_LIMIT));
    let pretty = text;
    try {
      pretty = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // Not valid JSON after all: show it as it is.
    }
    return h('pre', { class: 'preview preview-json' }, pretty);
  }
  if (type.startsWith('image/')) {
    const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
    return h('img', { class: 'preview preview-image', src: url, alt: ref.name ?? 'output' });
  }
  if (type.startsWith('text/')) {
    return h(
      'pre',
      { class: 'preview preview-text' },
      new TextDecoder().decode(bytes.subarray(0, TEXT_LIMIT)),
    );
  }
  const values = numericView(ref.tensor?.dtype ?? '', bytes);
  const shape = ref.tensor?.shape ?? [];
  if (
    values !== undefined &&
    shape.length === 2 &&
    shape[0]! * shape[1]! === values.length &&
    values.length > 1
  ) {
    return heatMap(values, shape[1]!, shape[0]!, ref.name ?? 'output');
  }
  if (values !== undefined) {
    const shown = Array.from(values.slice(0, 64), (v) => formatNumber(v)).join('  ');
    const more = values.length > 64 ? `  … (${values.length} values)` : '';
    return h('pre', { class: 'preview preview-values' }, `${shown}${more}`);
  }
  return h('pre', { class: 'preview preview-hex' }, hexDump(bytes.subarray(0, 256)));
}

type NumericArray = Float32Array | Uint32Array | Int32Array | Uint8Array;

function numericView(dtype: string, bytes: Uint8Array): NumericArray | undefined {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  switch (dtype) {
    case 'f32':
    case 'c64':
      return bytes.length % 4 === 0
        ? new Float32Array(aligned.buffer, aligned.byteOffset, bytes.length / 4)
        : undefined;
    case 'u32':
      return bytes.length % 4 === 0
        ? new Uint32Array(aligned.buffer, aligned.byteOffset, bytes.length / 4)
        : undefined;
    case 'i32':
      return bytes.length % 4 === 0
        ? new Int32Array(aligned.buffer, aligned.byteOffset, bytes.length / 4)
        : undefined;
    case 'u8':
      return bytes;
    default:
      return undefined;
  }
}

/** Draws values on a canvas, log-scaled into a dark-to-warm colour ramp; the maximum is black. */
function heatMap(values: ArrayLike<number>, width: number, height: number, name: string): HTMLElement {
  const canvas = h('canvas', {
    class: 'preview preview-image',
    width,
    height,
    'aria-label': `${name} as an image`,
  });
  const ctx = canvas.getContext('2d');
  if (ctx === null) return canvas;
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i]!);
  const image = ctx.createImageData(width, height);
  const scale = Math.log1p(max || 1);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const t = v >= max ? 0 : Math.log1p(Math.max(0, v)) / scale;
    image.data[i * 4] = Math.round(255 * Math.min(1, t * 2.2));
    image.data[i * 4 + 1] = Math.round(255 * Math.max(0, Math.min(1, t * 1.6 - 0.35)));
    image.data[i * 4 + 2] = Math.round(255 * Math.max(0, Math.min(1, 0.45 + t - t * t * 1.4)));
    image.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(6);
}

function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = Array.from(bytes.subarray(offset, offset + 16), (b) => b.toString(16).padStart(2, '0')).join(
      ' ',
    );
    lines.push(`${offset.toString(16).padStart(4, '0')}  ${row}`);
  }
  return lines.join('\n');
}
