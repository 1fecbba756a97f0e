// Whether two sets of a library method's outputs agree under the method's `compare` rule: byte
// for byte (exact); decoded pixels within `maxDiff` (image methods against native libvips, video
// frames against native FFmpeg); decoded samples within `maxDiff`, or above a signal-to-noise
// ratio (audio against native FFmpeg); or decoded tables (values: data's Arrow and Parquet results
// against native DuckDB; its CSV and JSON byte for byte). Spot checks judge a volunteer's outputs
// against the Node reference with it; tests use it too.
import type { Comparison } from '../method.ts';
import { getMethod } from '../registry.ts';

export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);

/**
 * Whether two encoded outputs named `name` agree under a tolerant rule. The decoders load on first
 * use: sharp for images, Debian's ffmpeg for audio and video, apache-arrow and parquet-wasm for tables.
 */
async function within(
  library: string,
  rule: Comparison,
  name: string,
  a: Uint8Array,
  b: Uint8Array,
): Promise<boolean> {
  if (rule.kind === 'exact') return equalBytes(a, b);
  if (rule.kind === 'tensors' || rule.kind === 'classes') {
    const { mlAgrees } = await import('./ml-compare.ts');
    return mlAgrees(rule, a, b);
  }
  if (rule.kind === 'values') {
    const { isTableOutput, sameTable } = await import('./data-compare.ts');
    return library === 'data' && isTableOutput(name) && (await sameTable(name, a, b));
  }
  if (library === 'audio' || library === 'video') {
    const { mediaAgreesAsync } = await import('./media-compare.ts');
    return mediaAgreesAsync(rule, a, b);
  }
  const { maxPixelDiff } = await import('./image-compare.ts');
  return rule.kind === 'pixels' && (await maxPixelDiff(a, b)) <= rule.maxDiff;
}

/**
 * True when `actual` has exactly the outputs of `expected` (by name) and each agrees under the
 * method's rule. Outputs a rule cannot decode do not agree.
 */
export async function outputsAgree(
  op: string,
  actual: readonly NamedBytes[],
  expected: readonly NamedBytes[],
): Promise<boolean> {
  const { compare: rule, library } = getMethod(op);
  const names = (list: readonly NamedBytes[]) => list.map((o) => o.name).sort();
  if (names(actual).join('\n') !== names(expected).join('\n')) return false;
  for (const want of expected) {
    const got = actual.find((o) => o.name === want.name)!;
    if (equalBytes(got.bytes, want.bytes)) continue;
    try {
      if (!(await within(library, rule, want.name, got.bytes, want.bytes))) return false;
    } catch {
      return false;
    }
  }
  return true;
}
