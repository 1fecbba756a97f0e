// The registry of built-in ops by name.
import type { BuiltinOp, OpDefinition } from './op-definition.ts';
import { conv2d } from './ops/conv2d.ts';
import { fft } from './ops/fft.ts';
import { histogram } from './ops/histogram.ts';
import { mandelbrot } from './ops/mandelbrot.ts';
import { matmul } from './ops/matmul.ts';
import { nbodyStep } from './ops/nbody-step.ts';
import { prefixSum } from './ops/prefix-sum.ts';
import { reduceSum } from './ops/reduce-sum.ts';
import { saxpy } from './ops/saxpy.ts';
import { sha256Batch } from './ops/sha256-batch.ts';
import { ShaderError } from './shader-error.ts';

/** Every built-in op by name. */
export const OPS: Readonly<Record<BuiltinOp, OpDefinition>> = {
  saxpy,
  reduce_sum: reduceSum,
  prefix_sum: prefixSum,
  histogram,
  matmul,
  fft,
  conv2d,
  mandelbrot,
  nbody_step: nbodyStep,
  sha256_batch: sha256Batch,
};

/** The names of all built-in ops, in registry order. */
export const BUILTIN_OPS = Object.keys(OPS) as BuiltinOp[];

/** True when `name` is a built-in op. */
export function isBuiltinOp(name: string): name is BuiltinOp {
  return Object.hasOwn(OPS, name);
}

/** The definition of `name`; throws ShaderError UNKNOWN_OP for anything else. */
export function getOp(name: string): OpDefinition {
  if (!isBuiltinOp(name)) throw new ShaderError('UNKNOWN_OP', `"${name}" is not a built-in op`, 'op');
  return OPS[name];
}
