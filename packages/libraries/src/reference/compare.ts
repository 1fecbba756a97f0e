// Whether two sets of a library method's outputs agree under the method's `compare` rule: byte
// for byte (exact), decoded pixels within `maxDiff` (image methods against native libvips), or
// decoded samples within `maxDiff` (audio against native FFmpeg). Spot checks judge a volunteer's
// outputs against the Node reference with it; tests use it too.
import type { Comparison } from '../method.ts';
import { getMethod } from '../registry.ts';

export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);

/**
 * Whether two encoded outputs agree under a tolerant rule. The decoders load on first use: sharp
 * for images, Debian's ffmpeg for audio and video.
 */
async function within(library: string, rule: Comparison, a: Uint8Array, b: Uint8Array): Promise<boolean> {
  if (rule.kind === 'exact') return equalBytes(a, b);
  if (library === 'audio' || library === 'video') {
    const { mediaDistanceAsync } = await import('./media-compare.ts');
    return (await mediaDistanceAsync(rule, a, b)) <= rule.maxDiff;
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
      if (!(await within(library, rule, got.bytes, want.bytes))) return false;
    } catch {
      return false;
    }
  }
  return true;
}
