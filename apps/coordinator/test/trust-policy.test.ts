import { describe, expect, it } from 'vitest';
import {
  digestOutputs,
  outputsOf,
  resolvePolicy,
  sameResult,
  sha256Of,
  TrustError,
} from '../src/trust/index.ts';

function f32(...values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function policyError(fn: () => unknown): { code: string; field: string | undefined } {
  try {
    fn();
  } catch (err) {
    if (err instanceof TrustError) return { code: err.code, field: err.field };
    throw err;
  }
  throw new Error('expected a TrustError');
}

describe('resolvePolicy', () => {
  it('is adaptive with quorum 2 and cap 5 when the task sets nothing', () => {
    expect(resolvePolicy(undefined)).toEqual({
      mode: 'adaptive',
      replicas: 1,
      quorum: 2,
      comparator: 'exact',
      absTolerance: 0,
      relTolerance: 0,
      homogeneous: false,
      maxReplicas: 5,
    });
    expect(resolvePolicy({ replicas: 0, quorum: 3 }).quorum).toBe(3);
  });

  it('defaults a fixed quorum to a majority of the replicas', () => {
    expect(resolvePolicy({ replicas: 1 }).quorum).toBe(1);
    expect(resolvePolicy({ replicas: 2 }).quorum).toBe(2);
    expect(resolvePolicy({ replicas: 3 }).quorum).toBe(2);
    expect(resolvePolicy({ replicas: 7 })).toMatchObject({
      mode: 'fixed',
      replicas: 7,
      quorum: 4,
      maxReplicas: 7,
    });
  });

  it('fills the relative tolerance only when the tolerance comparator sets no bound', () => {
    expect(resolvePolicy({ comparator: 'tolerance' })).toMatchObject({ absTolerance: 0, relTolerance: 1e-5 });
    expect(resolvePolicy({ comparator: 'tolerance', abs_tolerance: 0.5 })).toMatchObject({
      absTolerance: 0.5,
      relTolerance: 0,
    });
  });

  it('rejects out-of-range policies with INVALID_POLICY naming the field', () => {
    expect(policyError(() => resolvePolicy({ replicas: 2, quorum: 3 }))).toEqual({
      code: 'INVALID_POLICY',
      field: 'verification.quorum',
    });
    expect(policyError(() => resolvePolicy({ replicas: 17 }))).toEqual({
      code: 'INVALID_POLICY',
      field: 'verification.replicas',
    });
    expect(policyError(() => resolvePolicy({ replicas: 3, max_replicas: 2 }))).toEqual({
      code: 'INVALID_POLICY',
      field: 'verification.max_replicas',
    });
    expect(policyError(() => resolvePolicy({ quorum: 3, max_replicas: 2 }))).toEqual({
      code: 'INVALID_POLICY',
      field: 'verification.max_replicas',
    });
    expect(policyError(() => resolvePolicy({ comparator: 'tolerance', rel_tolerance: -1 }))).toEqual({
      code: 'INVALID_POLICY',
      field: 'verification.rel_tolerance',
    });
    expect(policyError(() => resolvePolicy({ comparator: 'tolerance', abs_tolerance: Number.NaN }))).toEqual({
      code: 'INVALID_POLICY',
      field: 'verification.abs_tolerance',
    });
    expect(policyError(() => resolvePolicy({ abs_tolerance: 0.1 }))).toEqual({
      code: 'INVALID_POLICY',
      field: 'verification.comparator',
    });
  });
});

describe('result digests', () => {
  const exact = resolvePolicy({ replicas: 2 });
  const tolerant = resolvePolicy({
    replicas: 2,
    comparator: 'tolerance',
    abs_tolerance: 1e-3,
    rel_tolerance: 1e-2,
  });

  it('hashes bytes with sha256 (known answer for "abc")', () => {
    expect(sha256Of(new TextEncoder().encode('abc'))).toBe(
      'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('compares exactly by hash, whatever the order of the outputs', () => {
    const a = digestOutputs(
      [
        { name: 'x', bytes: Uint8Array.of(1, 2) },
        { name: 'y', bytes: Uint8Array.of(3) },
      ],
      exact,
    );
    const b = digestOutputs(
      [
        { name: 'y', bytes: Uint8Array.of(3) },
        { name: 'x', bytes: Uint8Array.of(1, 2) },
      ],
      exact,
    );
    const c = digestOutputs(
      [
        { name: 'x', bytes: Uint8Array.of(1, 2) },
        { name: 'y', bytes: Uint8Array.of(4) },
      ],
      exact,
    );
    expect(a.hash).toBe(b.hash);
    expect(sameResult(a, b, exact)).toBe(true);
    expect(sameResult(a, c, exact)).toBe(false);
    // A renamed output is another result even with the same bytes.
    const renamed = digestOutputs(
      [
        { name: 'x', bytes: Uint8Array.of(1, 2) },
        { name: 'z', bytes: Uint8Array.of(3) },
      ],
      exact,
    );
    expect(sameResult(a, renamed, exact)).toBe(false);
  });

  it('accepts declared hashes of outputs held elsewhere, and agrees with the bytes', () => {
    const bytes = Uint8Array.of(9, 9, 9);
    const byHash = digestOutputs([{ name: 'out', hash: sha256Of(bytes) }], exact);
    const byBytes = digestOutputs([{ name: 'out', bytes }], exact);
    expect(byHash.hash).toBe(byBytes.hash);
    expect(outputsOf({ outputs: [{ name: 'out', uri: 'blob:1', hash: 'sha256:ab' }] })).toEqual([
      { name: 'out', hash: 'sha256:ab' },
    ]);
    expect(outputsOf({ outputs: [{ name: 'j', inline_json: '{"a":1}' }] })[0]!.bytes).toEqual(
      new TextEncoder().encode('{"a":1}'),
    );
    expect(policyError(() => outputsOf({ outputs: [{ name: 'out', uri: 'blob:1' }] }))).toEqual({
      code: 'OUTPUT_MISSING',
      field: 'outputs[0]',
    });
  });

  it('compares f32 outputs element-wise within abs + rel · max(|a|, |b|)', () => {
    const base = digestOutputs([{ name: 'out', bytes: f32(1, 100, -5) }], tolerant);
    // 100 ± 1 is within 1e-3 + 1e-2 · 101; 1.0005 within 1e-3 + 1e-2 · 1.0005.
    const near = digestOutputs([{ name: 'out', bytes: f32(1.0005, 101, -5) }], tolerant);
    const far = digestOutputs([{ name: 'out', bytes: f32(1, 102.5, -5) }], tolerant);
    const shorter = digestOutputs([{ name: 'out', bytes: f32(1, 100) }], tolerant);
    expect(sameResult(base, near, tolerant)).toBe(true);
    expect(sameResult(base, far, tolerant)).toBe(false);
    expect(sameResult(base, shorter, tolerant)).toBe(false);
    // The exact comparator sees the same near bytes as different.
    expect(
      sameResult(
        digestOutputs([{ name: 'out', bytes: f32(1, 100, -5) }], exact),
        digestOutputs([{ name: 'out', bytes: f32(1.0005, 101, -5) }], exact),
        exact,
      ),
    ).toBe(false);
  });

  it('lets NaN agree only with NaN', () => {
    const nan = digestOutputs([{ name: 'out', bytes: f32(Number.NaN, 1) }], tolerant);
    const nan2 = digestOutputs([{ name: 'out', bytes: f32(Number.NaN, 1.000001) }], tolerant);
    const zero = digestOutputs([{ name: 'out', bytes: f32(0, 1) }], tolerant);
    expect(sameResult(nan, nan2, tolerant)).toBe(true);
    expect(sameResult(nan, zero, tolerant)).toBe(false);
  });

  it('refuses outputs the tolerance comparator cannot read', () => {
    expect(
      policyError(() => digestOutputs([{ name: 'out', bytes: Uint8Array.of(1, 2, 3) }], tolerant)),
    ).toEqual({
      code: 'NOT_F32',
      field: 'out',
    });
    expect(policyError(() => digestOutputs([{ name: 'out', hash: 'sha256:00' }], tolerant))).toEqual({
      code: 'OUTPUT_MISSING',
      field: 'out',
    });
    expect(policyError(() => digestOutputs([{ name: 'out' }], exact))).toEqual({
      code: 'OUTPUT_MISSING',
      field: 'out',
    });
  });
});

describe('JSON outputs under the tolerance comparator', () => {
  // The ml library's own bound for classes (atol 1e-4), as a requester would set it.
  const tolerant = resolvePolicy({ replicas: 2, comparator: 'tolerance', abs_tolerance: 1e-4 });
  const classes = (rows: Array<Array<[number, string, number]>>) =>
    new TextEncoder().encode(
      JSON.stringify(rows.map((row) => row.map(([index, label, score]) => ({ index, label, score })))),
    );
  const digest = (bytes: Uint8Array, contentType = 'application/json') =>
    digestOutputs([{ name: 'classes.json', bytes, contentType }], tolerant);
  const base = classes([
    [
      [3, 'three', 0.71],
      [8, 'eight', 0.2],
    ],
    [[1, 'one', 0.93]],
  ]);

  it('agrees when scores differ within the tolerance (an odd-length JSON is no f32 error)', () => {
    const near = classes([
      [
        [3, 'three', 0.710001],
        [8, 'eight', 0.199999],
      ],
      [[1, 'one', 0.930001]],
    ]);
    expect(base.byteLength % 4).not.toBe(0);
    expect(digest(base).json).toEqual(['classes.json']);
    expect(sameResult(digest(base), digest(near), tolerant)).toBe(true);
  });

  it('disagrees on a swapped label, a score off by 0.1, another shape, or bytes that are not JSON', () => {
    const swapped = classes([
      [
        [3, 'eight', 0.71],
        [8, 'three', 0.2],
      ],
      [[1, 'one', 0.93]],
    ]);
    const off = classes([
      [
        [3, 'three', 0.81],
        [8, 'eight', 0.2],
      ],
      [[1, 'one', 0.93]],
    ]);
    const shorter = classes([[[3, 'three', 0.71]], [[1, 'one', 0.93]]]);
    const notJson = new TextEncoder().encode('[[{"index":3,');
    for (const other of [swapped, off, shorter, notJson]) {
      expect(sameResult(digest(base), digest(other), tolerant)).toBe(false);
    }
    // The same near bytes as octet-stream are f32 elements or nothing: a JSON output never
    // agrees with a binary one.
    const near = classes([
      [
        [3, 'three', 0.710001],
        [8, 'eight', 0.199999],
      ],
      [[1, 'one', 0.930001]],
    ]);
    const padded = new Uint8Array(Math.ceil(near.byteLength / 4) * 4);
    padded.set(near);
    expect(sameResult(digest(base), digest(padded, 'application/octet-stream'), tolerant)).toBe(false);
  });

  it('takes application/json from the DataRef, and inline JSON as JSON', () => {
    const text = '{"a":[1,2]}';
    expect(outputsOf({ outputs: [{ name: 'j', inline_json: text }] })[0]!.contentType).toBe(
      'application/json',
    );
    const stored = outputsOf({
      outputs: [{ name: 'classes.json', content_type: 'application/json', inline_bytes: base }],
    });
    expect(digestOutputs(stored, tolerant).json).toEqual(['classes.json']);
    const exact = resolvePolicy({ replicas: 2 });
    expect(digestOutputs(stored, exact).json).toBeUndefined();
  });
});
